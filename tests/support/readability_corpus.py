"""Costs from papers and textbooks, each with its gradient as the source prints it.

Frozen before derive was run on them: the textbook form is the yardstick derive's text is
measured against (tests/test_readability.py), in derive's text notation (juxtaposition for
products, ``^T``, NumPy broadcasting of a row or column as the formula language has it).

Each entry: (name, formula, wrt, shapes, assume, {variable: textbook gradient}).
"""
from __future__ import annotations

CORPUS = [
    # normalisation layers
    ("layernorm", "Xc = X - mean(X,1); s = sqrt(mean(Xc.^2,1) + eps); Xh = Xc ./ s; "
     "sum(sum(G .* Xh))", ["X"], ["eps="], [],
     {"X": "(G - mean(G, 1) - Xh .* mean(G .* Xh, 1)) ./ s"}),
    ("batchnorm", "mu = mean(X,2); Xc = X - mu; v = mean(Xc.^2,2); sd = sqrt(v + eps); "
     "Xh = Xc ./ sd; sum(sum(G .* Xh))", ["X"], ["eps="], [],
     {"X": "(G - mean(G, 2) - Xh .* mean(G .* Xh, 2)) ./ sd"}),
    ("rmsnorm", "r = sqrt(mean(X.^2,1) + eps); Y = X ./ r; sum(sum(G .* Y))", ["X"],
     ["eps="], [], {"X": "(G - Y .* mean(G .* Y, 1)) ./ r"}),
    # softmax family
    ("softmax-ce", "P = softmax(W*X); -sum(sum(Y .* log(P)))", ["W"], [], ["Y=onehot"],
     {"W": "(P - Y) X^T"}),
    ("distillation", "Ps = softmax(Zs/tau); Pt = softmax(Zt/tau); "
     "-tau^2*sum(sum(Pt .* log(Ps)))", ["Zs"], [], [], {"Zs": "tau (Ps - Pt)"}),
    ("logsumexp", "sum(logsumexp(X,1))", ["X"], [], [], {"X": "softmax(X)"}),
    ("exp-minus-lse", "P = exp(Z - logsumexp(Z,1)); sum(sum(G .* P))", ["Z"], [], [],
     {"Z": "P .* (G - sum(G .* P, 1))"}),
    ("softmax-entropy", "P = softmax(Z); -sum(sum(P .* log(P)))", ["Z"], [], [],
     {"Z": "-P .* (log(P) - sum(P .* log(P), 1))"}),
    ("attention-V", "S = Q'*K/sqrt(d); P = softmax(S); sum(sum(G .* (V*P)))", ["V"], ["d="],
     [], {"V": "G P^T"}),
    ("attention-Q", "S = Q'*K/sqrt(d); P = softmax(S); sum(sum(G .* (V*P)))", ["Q"], ["d="],
     [], {"Q": "K (P .* (V^T G - sum(P .* (V^T G), 1)))^T / sqrt(d)"}),
    ("infonce", "S = X'*Y/tau; P = softmax(S); -tr(log(P))", ["Y"], ["X=d,n", "Y=d,n"], [],
     {"Y": "X (P - eye(n)) / tau"}),
    # activations
    ("gelu-sigmoid", "S = sigmoid(1.702*X); sum(sum(G .* X .* S))", ["X"], [], [],
     {"X": "G .* (S + 1.702 X .* S .* (1 - S))"}),
    ("gelu-tanh", "U = 0.7978845608*(X + 0.044715*X.^3); T = tanh(U); "
     "sum(sum(G .* (0.5*X.*(1 + T))))", ["X"], [], [],
     {"X": "0.5 G .* (1 + T) + 0.5 G .* X .* (1 - T.^2) .* (0.7978845608 + 0.1070322243 X.^2)"}),
    ("swish", "S = sigmoid(X); sum(sum(G .* X .* S))", ["X"], [], [],
     {"X": "G .* S .* (1 + X .* (1 - S))"}),
    ("softplus-regression", "sum(softplus(X*w) - y .* (X*w))", ["w"], [], [],
     {"w": "X^T (sigmoid(X w) - y)"}),
    ("logistic", "p = sigmoid(X'*w); -sum(y .* log(p) + (1-y).*log(1-p))", ["w"], [], [],
     {"w": "X (p - y)"}),
    ("focal", "p = sigmoid(z); -sum(y .* (1-p).^gamma .* log(p))", ["z"], [], [],
     {"z": "-y .* (1 - p).^gamma .* (1 - p - gamma p .* log(p))"}),
    # Gaussian processes, PPCA, Gaussians
    ("gp-K", "C = K + sigma^2*eye(n); 0.5*y'*inv(C)*y + 0.5*logdet(C)", ["K"], [],
     ["K=symmetric"], {"K": "0.5 (inv(C) - inv(C) y y^T inv(C))"}),
    ("gp-sigma", "C = K + sigma^2*eye(n); 0.5*y'*inv(C)*y + 0.5*logdet(C)", ["sigma"], [],
     ["K=symmetric"], {"sigma": "sigma (tr(inv(C)) - y^T inv(C) inv(C) y)"}),
    ("ppca", "C = W*W' + sigma^2*eye(d); 0.5*n*logdet(C) + 0.5*tr(inv(C)*S)", ["W"],
     ["n="], ["S=symmetric"], {"W": "n inv(C) W - inv(C) S inv(C) W"}),
    ("gaussian-cov", "0.5*logdet(S) + 0.5*tr(inv(S)*Y*Y')", ["S"], [], ["S=spd"],
     {"S": "0.5 (inv(S) - inv(S) Y Y^T inv(S))"}),
    ("mahalanobis", "(x - mu)'*inv(S)*(x - mu)", ["mu"], ["mu=n"], ["S=spd"],
     {"mu": "-2 inv(S) (x - mu)"}),
    ("kernel-ridge", "C = K + lambda*eye(n); tr(inv(C)*Y*Y')", ["K"], [], ["K=symmetric"],
     {"K": "-inv(C) Y Y^T inv(C)"}),
    ("kernel-dual", "0.5*a'*K*a - y'*a", ["a"], [], ["K=symmetric"], {"a": "K a - y"}),
    # factorisations
    ("nmf-fro-W", "norm(V - W*H, 'fro')^2", ["W"], [], [], {"W": "-2 (V - W H) H^T"}),
    ("nmf-fro-H", "norm(V - W*H, 'fro')^2", ["H"], [], [], {"H": "-2 W^T (V - W H)"}),
    ("nmf-kl", "sum(sum(V .* log(V ./ (W*H)) - V + W*H))", ["W"], [], [],
     {"W": "(1 - V ./ (W H)) H^T"}),
    ("burer-monteiro", "norm(U*U' - M, 'fro')^2", ["U"], [], ["M=symmetric"],
     {"U": "4 (U U^T - M) U"}),
    ("axb", "norm(A*X*B - C, 'fro')^2", ["X"], [], [], {"X": "2 A^T (A X B - C) B^T"}),
    # Matrix Cookbook
    ("cookbook-xtax", "tr(X'*A*X)", ["X"], [], [], {"X": "(A + A^T) X"}),
    ("cookbook-xtax-sym", "tr(X'*A*X)", ["X"], [], ["A=symmetric"], {"X": "2 A X"}),
    ("cookbook-logdet", "logdet(X)", ["X"], [], [], {"X": "inv(X)^T"}),
    ("cookbook-trinv", "tr(inv(X)*A)", ["X"], [], [], {"X": "-(inv(X) A inv(X))^T"}),
    ("cookbook-axb", "a'*X*b", ["X"], [], [], {"X": "a b^T"}),
    ("cookbook-det", "det(X)", ["X"], [], [], {"X": "det(X) inv(X)^T"}),
    # least squares and the UFLDL examples
    ("least-squares", "norm(A*x - b)^2", ["x"], [], [], {"x": "2 A^T (A x - b)"}),
    ("ridge-named", "R = A*x - b; R'*R + lambda*x'*x", ["x"], [], [],
     {"x": "2 A^T R + 2 lambda x"}),
    ("lasso", "0.5*norm(A*x - b)^2 + lambda*norm(x,1)", ["x"], [], [],
     {"x": "A^T (A x - b) + lambda sign(x)"}),
    ("sparse-coding", "norm(A*s - x)^2 + gamma*norm(A,'fro')^2", ["A"], [], [],
     {"A": "2 (A s - x) s^T + 2 gamma A"}),
    ("topographic", "sum(sqrt(V*(s.*s) + eps))", ["s"], [], [],
     {"s": "V^T (V (s .* s) + eps).^(-1/2) .* s"}),
    ("ica", "norm(W'*W*x - x)^2", ["W"], [], [],
     {"W": "2 W (W^T W x - x) x^T + 2 W x (W^T W x - x)^T"}),
    ("mlp", "H = sigmoid(W1*X + b1); O = W2*H + b2; 0.5*norm(O - Y,'fro')^2", ["W1"], [], [],
     {"W1": "((W2^T (O - Y)) .* H .* (1 - H)) X^T"}),
    ("cosine", "x'*y/(norm(x)*norm(y))", ["x"], [], [],
     {"x": "y / (norm(x) norm(y)) - (x^T y) x / (norm(x)^3 norm(y))"}),
    ("contrastive-pair", "D = X - Y; sum(sum(D.^2))", ["X"], [], [], {"X": "2 D"}),
    ("weight-decay-mean", "mean(mean((W*X - Y).^2)) + lambda*norm(W,'fro')^2", ["W"], [], [],
     {"W": "2 (W X - Y) X^T / (m n) + 2 lambda W"}),
]
