"""The course, runnable: a neural unit and the perceptron (neuron), computation graphs
and backpropagation (autodiff). See docs/lecture.md.

May import: the base only."""
