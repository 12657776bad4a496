# Hierarchical representation (Liu, Simonyan, Vinyals, Fernando & Kavukcuoglu,
# ICLR 2018), 3 levels.  Level 1: six primitives (1x1 conv, 3x3 depthwise conv,
# 3x3 separable conv, 3x3 max and avg pool, identity) plus 'none'.  Level 2:
# six motifs, each a 4-node DAG whose every edge is a level-1 op.  Level 3: one
# 5-node DAG whose every edge is a level-2 motif or 'none'.  A motif's
# decisions are shared by all its uses.  (Nodes merge by addition here; the
# paper concatenates and keeps the channel count with 1x1 convolutions.)
# Size: 7^(6 * 6) * 7^10 = 7^46 (the paper gives no closed count).

ops level1 = [conv_bn_relu(k=1), dw_conv_3x3, sep_conv_3x3, max_pool_3x3,
              avg_pool_3x3, identity, none]

motif motif2[6](x) {
    return dag(nodes = 4, edge = level1)
}

cell level3(x) {
    return dag(nodes = 5, edge = [motif2, none])
}

network hierarchical(C = 16, classes = 10) {
    input [3, 32, 32]
    stem  = conv_3x3(C) -> batchnorm
    c1    = level3
    down1 = sep_conv_3x3(2 * C, stride = 2)
    c2    = level3
    down2 = sep_conv_3x3(4 * C, stride = 2)
    c3    = level3
    return global_avg_pool -> linear(classes)
}
