#!/usr/bin/env bash
# Renders docs/sparse_coding_steps.png, the README's picture of a derivation: UFLDL's first
# example (sparse coding, the gradient in A) from `derive grad --steps --format latex
# --standalone`, compiled by pdflatex as it is, the page cut to the text, turned into PNG by
# pdftoppm (Debian: texlive-latex-base texlive-latex-recommended poppler-utils). The README
# shows the same command's LaTeX beside it (tests/test_readme.py keeps that text current).
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/sparse_coding_steps
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
derive grad "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2" --wrt A --shape s=n,k \
    --shape x=m,k --steps --format latex --standalone > "$work/derivation.tex"
# The page as large as the text and a margin of 12pt (set at the end, when its height is known).
sed 's/^\\begin{document}$/\\pagestyle{empty}\\hoffset=-1in \\voffset=-1in \\oddsidemargin=12pt\
\\topmargin=12pt \\headheight=0pt \\headsep=0pt \\pdfpagewidth=\\dimexpr\\textwidth+24pt\\relax\
\\AtEndDocument{\\global\\pdfpageheight=\\dimexpr\\pagetotal+30pt\\relax}\n&/' "$work/derivation.tex" \
    > "$work/figure.tex"
(cd "$work" && pdflatex -interaction=nonstopmode -halt-on-error figure.tex > /dev/null)
pdftoppm -png -r 110 -singlefile "$work/figure.pdf" "$out"
echo "wrote $out.png"
