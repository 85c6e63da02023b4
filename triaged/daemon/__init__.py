"""The long-running service: scheduler jobs, IDLE watchers, signals, systemd's watchdog."""
