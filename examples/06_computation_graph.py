"""Lecture section 8: the computation graph of L = c (a + 2b) and its backward pass.

Prints the values and gradients, writes the graph as Graphviz text
(06_computation_graph.dot; render with `dot -Tpng`), and draws it with matplotlib
(06_computation_graph.png), so no Graphviz install is needed.

    python examples/06_computation_graph.py --out figures/
"""

from _common import parse_args  # first: selects the Agg backend
import matplotlib.pyplot as plt

from pynn.autodiff import Tensor, graph


def main():
    out = parse_args(__doc__).out

    a, b, c = Tensor(3.0, name="a"), Tensor(1.0, name="b"), Tensor(-2.0, name="c")
    d = (2 * b).named("d")
    e = (a + d).named("e")
    L = (c * e).named("L")
    L.backward()
    for t in (a, b, c, d, e, L):
        print(f"{t.name} = {t.item():g}   dL/d{t.name} = {t.grad.item():g}")

    (out / "06_computation_graph.dot").write_text(L.to_dot())

    # The course's layout: inputs in the left column, then d, e, L left to right.
    where = {"a": (0, 2), "b": (0, 1), "c": (0, 0), "d": (1, 1), "e": (2, 1.5), "L": (3, 0.75)}
    formulas = {"d": "d = 2b", "e": "e = a + d", "L": "L = c e"}
    fig, ax = plt.subplots(figsize=(9, 4))
    for src, dst in graph(L).edges:
        if src.name in where:  # the constant 2 is part of "d = 2b"
            ax.annotate("", xy=where[dst.name], xytext=where[src.name],
                        arrowprops=dict(arrowstyle="->", shrinkA=28, shrinkB=28))
    for t in graph(L).nodes:
        if t.name in where:
            text = f"{formulas.get(t.name, t.name)}\nvalue {t.item():g}\ngrad {t.grad.item():g}"
            ax.text(*where[t.name], text, ha="center", va="center",
                    bbox=dict(boxstyle="round", facecolor="white"))
    ax.set(xlim=(-0.5, 3.5), ylim=(-0.5, 2.5), title="L = c (a + 2b): forward values, backward gradients")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "06_computation_graph.png", dpi=120)
    print(f"wrote {out / '06_computation_graph.png'} and {out / '06_computation_graph.dot'}")


if __name__ == "__main__":
    main()
