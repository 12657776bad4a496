# NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets and Benchmarks): a GNN of
# 4 computing nodes.  Node i takes one input, chosen among the (preprocessed)
# raw input and the nodes before it, and applies one of 9 ops; the nodes that
# feed no other node are summed into the output.
# Published size before isomorphism merging: 1 * 2 * 3 * 4 * 9^4 = 157,464
# (26,206 after merging isomorphic graphs).

ops gnn_ops = [gat, gcn, gin, cheb, sage, arma, graph, fc, skip]

network nasbench_graph(features = 1433, hidden = 256, classes = 7) {
    input [features]
    x  = linear(hidden)
    n1 = sum(pick 1 of [x]             each gnn_ops)
    n2 = sum(pick 1 of [x, n1]         each gnn_ops)
    n3 = sum(pick 1 of [x, n1, n2]     each gnn_ops)
    n4 = sum(pick 1 of [x, n1, n2, n3] each gnn_ops)
    return sum(leaves of [n1, n2, n3, n4]) -> linear(classes)
}
