"""What the tests use but are not tests: formula generators, the independent oracle, target runners.

The tests import them as ``support.<module>`` (pytest puts tests/ on the path).
"""
