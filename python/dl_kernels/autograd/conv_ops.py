"""Transposed 2-D convolution on the conv2d kernels: its forward is conv2d's gradient with
respect to the input, its input gradient is conv2d's forward, its weight gradient is
conv2d's weight gradient with the roles of input and output swapped (Dumoulin & Visin 2016,
"A guide to convolution arithmetic")."""

from __future__ import annotations

from dl_kernels.autograd.engine import Function


class ConvTranspose2d(Function):
    """x (N, C_in, H, W), w (C_in, C_out/groups, KH, KW) -> (N, C_out, H_out, W_out)."""

    def forward(self, x, w, b, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1,
                out_hw=(1, 1)):
        be = self.be
        self.x, self.w = x, w
        self.params = (stride, padding, dilation, groups)
        y = be.conv2d_backward_input(x, w, out_hw, stride, padding, dilation, groups)
        if b is not None:
            y = be.add(y, be.reshape(b, (1, -1, 1, 1)))
        return y

    def backward(self, g):
        be, x, w, p = self.be, self.x, self.w, self.params
        need_x, need_w, need_b = self.needs_input_grad
        gx = be.conv2d_forward(g, w, None, *p) if need_x else None
        gw = be.conv2d_backward_weight(x, g, w.shape[2:], *p) if need_w else None
        gb = be.conv2d_backward_bias(g) if need_b else None
        return gx, gw, gb


class Conv2dWeightGrad(Function):
    """conv2d's weight gradient as a differentiable op of (gy, x), for double backward:
    gw = corr(x, gy); for a cotangent G of gw, d/dgy = conv2d(x, G) and d/dx = conv2d's input
    gradient of gy through G."""

    def forward(self, gy, x, kernel_hw=(1, 1), stride=(1, 1), padding=(0, 0, 0, 0),
                dilation=(1, 1), groups=1):
        self.gy, self.x = gy, x
        self.params = (stride, padding, dilation, groups)
        return self.be.conv2d_backward_weight(gy, x, kernel_hw, *self.params)

    def backward(self, g):
        be, p = self.be, self.params
        need_gy, need_x = self.needs_input_grad
        d_gy = be.conv2d_forward(self.x, g, None, *p) if need_gy else None
        d_x = be.conv2d_backward_input(self.gy, g, self.x.shape[2:], *p) if need_x else None
        return d_gy, d_x
