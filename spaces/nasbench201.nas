# NAS-Bench-201 (Dong & Yang, ICLR 2020): one cell, a dense DAG on 4 nodes.
# Each of the 6 edges is one of 5 ops; the cell is shared by all 15 cells of
# the skeleton (C = 16, N = 5 cells per stage, 3 stages, ResNet blocks between).
# Published size: 5^6 = 15,625.

ops nb201_ops = [none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3]

cell nb201_cell(x) {
    return dag(nodes = 4, edge = nb201_ops)
}

network nasbench201(C = 16, N = 5, classes = 10) {
    input [3, 32, 32]
    stem   = conv_3x3(C) -> batchnorm
    stage1 = repeat N { nb201_cell }
    red1   = resnet_block(2 * C, stride = 2)
    stage2 = repeat N { nb201_cell }
    red2   = resnet_block(4 * C, stride = 2)
    stage3 = repeat N { nb201_cell }
    return batchnorm -> relu -> global_avg_pool -> linear(classes)
}
