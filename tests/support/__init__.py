"""Plain helper modules the tests share, one module per kind of thing it holds.

Test modules import helpers from here (or take fixtures from a conftest.py), never
from another test module, so that each test file stands alone.
"""
