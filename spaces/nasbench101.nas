# NAS-Bench-101 (Ying, Klein, Christiansen, Real, Murphy & Hutter, ICML 2019): a cell of
# 7 nodes (input, 5 operation nodes, output) whose edges are any upper-triangular 0/1 matrix
# with at most 9 edges, each operation node one of conv 3x3, conv 1x1 (conv-BN-ReLU) or
# max pool 3x3; 3 stacks of 3 cells, max-pool downsampling and channels doubled between stacks.
# The raw encoding (the paper's 7x7 matrix and 5 labels): every edge is one bit of an
# 'any subset of' (15 bits into the operation nodes, 6 into the output), 2^21 * 3^5 =
# 509,607,936 genotypes; 'where edges <= 9' keeps 169,093,980 of them
# (`nasdsl count --feasible`); the paper's 423,624 unique graphs are what remains after
# removing the isomorphic and disconnected ones.  Simplifications: nodes add their inputs
# (the paper concatenates into the output and projects the input with 1x1 convs), and a
# node without inputs computes on zeros (its 'none' input), so it is dead rather than removed.

ops nb101_ops = [conv_bn_relu(k = 3), conv_bn_relu(k = 1), max_pool_3x3]

cell nb101_cell(x) {
    n1 = sum(x -> none, any subset of [x]) -> nb101_ops
    n2 = sum(x -> none, any subset of [x, n1]) -> nb101_ops
    n3 = sum(x -> none, any subset of [x, n1, n2]) -> nb101_ops
    n4 = sum(x -> none, any subset of [x, n1, n2, n3]) -> nb101_ops
    n5 = sum(x -> none, any subset of [x, n1, n2, n3, n4]) -> nb101_ops
    return sum(x -> none, any subset of [x, n1, n2, n3, n4, n5])
}

network nasbench101(C = 128, classes = 10, max_edges = 9) {
    input [3, 32, 32]
    where edges <= max_edges
    stem   = conv_bn_relu(C, k = 3)
    stack1 = repeat 3 { nb101_cell }
    down1  = max_pool(k = 2, stride = 2) -> conv_bn_relu(2 * C, k = 1)
    stack2 = repeat 3 { nb101_cell }
    down2  = max_pool(k = 2, stride = 2) -> conv_bn_relu(4 * C, k = 1)
    stack3 = repeat 3 { nb101_cell }
    return global_avg_pool -> linear(classes)
}
