"""Precedence levels, the one table every printer (text, LaTeX, the code targets) reads.

A printer returns (text, level); an operand whose level is below what its place needs is
parenthesised. A postfix operator (a transpose) binds as a power.
"""
ADD, MUL, UNARY, POWER, ATOM = 10, 20, 25, 30, 40
POSTFIX = POWER
