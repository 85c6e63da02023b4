"""The `triaged` command line. Exit 0 ok, 2 bad usage or config, 1 failure."""
