"""The classic backprop bugs, one per layer (our own NumPy code); the right forward each time.

Each backward's docstring names the gradient the check must call wrong."""
import numpy as np


def affine_mean_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_mean_backward(dout, cache):
    """db"""
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)          # db averaged over the batch


def affine_divn_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_divn_backward(dout, cache):
    """w"""
    x, w = cache
    return dout @ w.T, x.T @ dout / x.shape[0], dout.sum(axis=0)   # dw divided by N


def affine_nodb_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_nodb_backward(dout, cache):
    """b"""
    x, w = cache
    return dout @ w.T, x.T @ dout                              # db never returned


def relu_forward(x):
    out = np.maximum(0, x)
    return out, out


def relu_backward(dout, cache):
    """x"""
    return dout * cache                                        # multiplies by the output


def sigmoid_forward(x):
    s = 1 / (1 + np.exp(-x))
    return s, s


def sigmoid_backward(dout, cache):
    """x"""
    return dout * cache                                        # σ instead of σ′ = σ(1 − σ)


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh)


def rnn_step_backward(dnext_h, cache):
    """Wx"""
    x, prev_h, Wx, Wh = cache
    da = dnext_h                                               # forgot tanh′ = 1 − h²
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def conv_forward_naive(x, w, b, conv_param):
    pad = conv_param["pad"]
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = xp.shape[2] - HH + 1, xp.shape[3] - WW + 1      # stride 1
    out = np.zeros((x.shape[0], F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = np.tensordot(xp[:, :, i:i + HH, j:j + WW], w,
                                           axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, pad)


def conv_backward_naive(dout, cache):
    """w"""
    x, w, pad = cache
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            # dw from the first example only (the loop over n was lost)
            dw += np.tensordot(dout[0, :, i, j], xp[0, :, i:i + HH, j:j + WW], axes=0)
            dxp[:, :, i:i + HH, j:j + WW] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    return dxp[:, :, pad:-pad, pad:-pad], dw, dout.sum(axis=(0, 2, 3))


def _sig(z):
    return 1 / (1 + np.exp(-z))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = _sig(a[:, :H]), _sig(a[:, H:2 * H]), _sig(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Wx"""
    x, prev_h, Wx, Wh, i, f, o, g, next_c = cache
    t = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - t ** 2)
    di, df, do, dg = dc * g, dc * next_c, dnext_h * t, dc * i  # forget gate: next_c, not prev_c
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)])
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def softmax_loss(x, y):
    """x"""
    N = x.shape[0]
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean()
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx                                            # the 1/N of the mean forgotten
