"""The expression: immutable nodes, the simplifying constructors, and one record per operation."""
