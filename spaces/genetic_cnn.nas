# Genetic CNN (Xie & Yuille, ICCV 2017): 3 stages of K = 3, 4, 5 conv nodes.
# Within a stage, one bit per ordered node pair (i < j) says whether node i
# feeds node j; a node with no input takes the stage input, and the nodes that
# feed nothing are summed into the stage output.  Stages are separated by
# 2x2 max pooling.  (Unlike the paper, a node with no connection at all is
# kept, fed by the stage input and summed into the output.)
# Published size: 2^(3 + 6 + 10) = 2^19 = 524,288.

block stage(x, C, K) {
    for j in range(1, K + 1) {
        v[j] = sum(any subset of v[1:j] default x) -> conv_bn_relu(C)
    }
    return sum(leaves of v[1:K + 1])
}

network genetic_cnn(C = 16, classes = 10) {
    input [3, 32, 32]
    s1 = stage(C, 3)
    p1 = max_pool_2x2(stride = 2)
    s2 = stage(2 * C, 4)
    p2 = max_pool_2x2(stride = 2)
    s3 = stage(4 * C, 5)
    return global_avg_pool -> linear(classes)
}
