"""Mathematics for people: the text and LaTeX printers (one class per language, one method
per node type, over the same tree), the names results print by, the layout of whole results
and of the --steps derivation, and how wide LaTeX sets."""
