"""The event kernels by name and code. An op's lowering names its kernel; the program stores the code
and the step loop dispatches on it."""

INPUT, NEURON, CONV, DENSE, AVGPOOL, MAXPOOL, ADD, MAP, AFFINE, DELAY = range(10)

#: Kernel name (as ops' lowerings give it) → code.
KERNEL_CODES = {
    "input": INPUT,
    "neuron": NEURON,
    "conv": CONV,
    "dense": DENSE,
    "avgpool": AVGPOOL,
    "maxpool": MAXPOOL,
    "add": ADD,
    "map": MAP,
    "affine": AFFINE,
    "delay": DELAY,
}
