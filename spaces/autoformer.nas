# AutoFormer-style (Chen, Peng, Fu & Ling, ICCV 2021): a vision-transformer space whose
# embedding width is one decision shared by every layer, with an elastic depth, and where
# each layer picks its number of attention heads and its MLP ratio (hidden = ratio x embed,
# rounded to the nearest integer).  AutoFormer-T searches embed {192, 216, 240}, depth
# {12, 13, 14}, heads {3, 4}, ratio {3.5, 4}; this file keeps the structure at a size that
# trains on the CPU (mnist1d rows as 8 tokens of 5: `--data mnist1d-seq`), with the widths
# and depths as parameters' multiples.
# Size: 3 * sum over depth d in {2, 3, 4} of (2 * 2)^d = 3 * (16 + 64 + 256) = 1,008.

block layer(x, E) {
    heads = {2, 4}
    ratio = {3.5, 4}
    a = sum(x, x -> layernorm -> multihead_attention(heads))
    return sum(a, a -> layernorm -> mlp(E * ratio))
}

network autoformer(W = 8, classes = 10) {
    input [8, 5]
    embed = {2 * W, 3 * W, 4 * W}
    x = tokens(embed)
    body = repeat {2, 3, 4} { layer(embed) }
    return layernorm -> token_pool -> linear(classes)
}
