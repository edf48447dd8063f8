"""Draw the autograd graph behind a tensor with graphviz (ember.app.viz.make_dot), as torchviz does for PyTorch."""
from ..autograd.graph import Node


def _require_graphviz():
    try:
        import graphviz
    except ImportError:
        raise ImportError("ember.viz needs the graphviz Python package: pip install 'ember[viz]' (rendering to "
                          "SVG/PNG also needs the Graphviz 'dot' program, e.g. apt-get install graphviz)") from None
    return graphviz


def _shape(t):
    return '(' + ', '.join(map(str, t.shape)) + ')'


def make_dot(var, params=None, show_attrs=False, show_saved=False, max_attr_chars=50):
    """A graphviz.Digraph of the ops that produced ``var``; ``params`` (name -> tensor) labels the leaves."""
    graphviz = _require_graphviz()
    names = {id(v): k for k, v in (dict(params) if params is not None else {}).items()}
    dot = graphviz.Digraph(node_attr={'style': 'filled', 'shape': 'box', 'align': 'left', 'fontsize': '10',
                                      'ranksep': '0.1', 'height': '0.2', 'fontname': 'monospace'},
                           graph_attr={'size': '12,12'})
    seen = set()
    outputs = var if isinstance(var, (list, tuple)) else (var,)

    def leaf_node(t):
        nid = str(id(t))
        if nid not in seen:
            seen.add(nid)
            label = (names.get(id(t), '') + '\n' if id(t) in names else '') + _shape(t)
            dot.node(nid, label, fillcolor='lightblue')
        return nid

    stack = []
    for out in outputs:
        oid = 'out' + str(id(out))
        dot.node(oid, 'output\n' + _shape(out), fillcolor='darkolivegreen1')
        if out.grad_fn is not None:
            dot.edge(str(id(out.grad_fn)), oid)
            stack.append(out.grad_fn)
        elif out.requires_grad:
            dot.edge(leaf_node(out), oid)
    while stack:
        node = stack.pop()
        nid = str(id(node))
        if nid in seen:
            continue
        seen.add(nid)
        dot.node(nid, node.name())
        for edge in node.edges:
            if edge is None:
                continue
            target = edge[0]
            if isinstance(target, Node):
                dot.edge(str(id(target)), nid)
                stack.append(target)
            else:
                dot.edge(leaf_node(target), nid)
    return dot


def dot_available():
    import shutil
    return shutil.which('dot') is not None
