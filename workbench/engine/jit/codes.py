"""Numbers shared by the compiled kernels and the code that calls them."""

# Activation codes of the compiled epilogues (``numba_kernels._act_row``), by kind.
ACT_CODES = {
    "Relu": 1,
    "Clip": 2,
    "HardSwish": 3,
    "HardSigmoid": 4,
    "Sigmoid": 5,
    "SiLU": 6,
    "LeakyRelu": 7,
    "PRelu": 8,
    "Tanh": 9,
    "Affine": 10,
}
