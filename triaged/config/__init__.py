"""The configuration: one TOML file read into frozen records (`load`), every problem
reported at once.
"""
