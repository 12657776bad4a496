# Once-for-All (Cai, Gan, Wang, Zhang & Han, ICLR 2020), MobileNetV3 space:
# 5 stages of elastic depth 2, 3 or 4 (the first layer, which may change the
# width and stride, plus 1 to 3 residual layers); every layer picks its kernel
# (3, 5, 7) and expansion ratio (3, 4, 6).
# Size: ((3*3)^2 + (3*3)^3 + (3*3)^4)^5 = 7371^5 ~ 2.2 * 10^19.

block ofa_layer(x) {
    return sum(x, x -> mbconv(k = {3, 5, 7}, e = {3, 4, 6}))
}

block ofa_stage(x, C, stride) {
    first = mbconv(C, k = {3, 5, 7}, e = {3, 4, 6}, stride = stride)
    return repeat {1, 2, 3} { ofa_layer }
}

network ofa(classes = 1000) {
    input [3, 224, 224]
    stem = conv_bn_relu(16, k = 3, stride = 2) -> mbconv(16, k = 3, e = 1)
    s1 = ofa_stage(24, 2)
    s2 = ofa_stage(40, 2)
    s3 = ofa_stage(80, 2)
    s4 = ofa_stage(112, 1)
    s5 = ofa_stage(160, 2)
    return conv_bn_relu(960, k = 1) -> global_avg_pool -> linear(1280) -> relu -> linear(classes)
}
