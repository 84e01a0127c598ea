//! ONNX export of the ResNets, written directly as protobuf (the handful of ONNX messages
//! a ResNet needs; field numbers from onnx.proto).
//!
//! The graph is read off the weight names (torchvision layout, which `ichscan-train` keeps):
//! `conv1`/`bn1`, `layer{1..4}.{b}.conv{1,2,3}`/`bn{1,2,3}`, `.downsample.{0,1}`, `fc` and
//! the optional `type_fc`. Every BatchNorm is folded into the convolution before it
//! (inference statistics), so the graph is Conv, Relu, MaxPool, Add, GlobalAveragePool,
//! Flatten and Gemm only: the operators ONNX Runtime's int8 quantizer handles best.
//! Input `input` is `[batch, C, S, S]` with a symbolic batch; outputs `logits` `[batch, 2]`
//! (class 0 = haemorrhage) and, with a type head, `types` `[batch, 5]`.

use std::collections::BTreeMap;

use crate::safetensors::F32Tensor;

/// The opset we write (ONNX Runtime has supported it since 1.14).
pub const OPSET: i64 = 17;
const IR_VERSION: i64 = 8;
/// BatchNorm epsilon of torchvision and tch.
pub const BN_EPS: f64 = 1e-5;

// --- protobuf encoding -------------------------------------------------------------------

#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }
    fn int(&mut self, field: u32, v: i64) {
        self.key(field, 0);
        self.varint(v as u64);
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }
    fn msg(&mut self, field: u32, f: impl FnOnce(&mut Pb)) {
        let mut m = Pb::default();
        f(&mut m);
        self.bytes(field, &m.0);
    }
}

// --- graph -------------------------------------------------------------------------------

enum Attr {
    Int(i64),
    Ints(Vec<i64>),
}

struct Node {
    op: &'static str,
    name: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    attrs: Vec<(&'static str, Attr)>,
}

/// A graph under construction.
#[derive(Default)]
struct Graph {
    nodes: Vec<Node>,
    inits: Vec<(String, Vec<i64>, Vec<f32>)>,
}

impl Graph {
    fn node(&mut self, op: &'static str, name: &str, inputs: &[&str], attrs: Vec<(&'static str, Attr)>) -> String {
        let out = name.to_string();
        self.nodes.push(Node {
            op,
            name: name.to_string(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![out.clone()],
            attrs,
        });
        out
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ExportError(pub String);

fn get<'a>(w: &'a BTreeMap<String, F32Tensor>, name: &str) -> Result<&'a F32Tensor, ExportError> {
    w.get(name)
        .ok_or_else(|| ExportError(format!("weights have no tensor '{name}' (torchvision ResNet layout expected)")))
}

/// `conv` with the BatchNorm `bn` folded in: w' = w * g / sqrt(v + eps), b' = beta - m * g / sqrt(v + eps).
fn folded(w: &BTreeMap<String, F32Tensor>, conv: &str, bn: &str) -> Result<(F32Tensor, Vec<f32>), ExportError> {
    let k = get(w, &format!("{conv}.weight"))?;
    let [g, b, m, v] = ["weight", "bias", "running_mean", "running_var"].map(|s| get(w, &format!("{bn}.{s}")));
    let (g, b, m, v) = (g?, b?, m?, v?);
    let out = k.shape[0];
    if [g, b, m, v].iter().any(|t| t.data.len() != out) {
        return Err(ExportError(format!("{bn}: {} channels expected", out)));
    }
    let per = k.data.len() / out;
    let mut wk = k.clone();
    let mut bias = vec![0f32; out];
    for o in 0..out {
        let s = g.data[o] as f64 / (v.data[o] as f64 + BN_EPS).sqrt();
        for x in &mut wk.data[o * per..(o + 1) * per] {
            *x = (*x as f64 * s) as f32;
        }
        bias[o] = (b.data[o] as f64 - m.data[o] as f64 * s) as f32;
    }
    Ok((wk, bias))
}

/// Denormal weights (|w| < 1.2e-38, e.g. where a large L2 drove them towards zero) become
/// 0: they change no output, but CPUs handle them in microcode and ONNX Runtime ran the
/// default sagittal model, with 85k of them, 12x slower.
fn flush_denormal(v: f32) -> f32 {
    if v.is_subnormal() {
        0.0
    } else {
        v
    }
}

/// Adds `conv`+`bn` (folded) as a Conv node on `x`; returns its output name.
fn conv_bn(
    g: &mut Graph,
    w: &BTreeMap<String, F32Tensor>,
    x: &str,
    conv: &str,
    bn: &str,
    stride: i64,
) -> Result<String, ExportError> {
    let (k, b) = folded(w, conv, bn)?;
    let ks = k.shape[2] as i64;
    let pad = ks / 2;
    let (wn, bn_) = (format!("{conv}.weight"), format!("{conv}.bias"));
    g.inits.push((wn.clone(), k.shape.iter().map(|&d| d as i64).collect(), k.data));
    g.inits.push((bn_.clone(), vec![b.len() as i64], b));
    Ok(g.node(
        "Conv",
        conv,
        &[x, &wn, &bn_],
        vec![
            ("kernel_shape", Attr::Ints(vec![ks, k.shape[3] as i64])),
            ("strides", Attr::Ints(vec![stride, stride])),
            ("pads", Attr::Ints(vec![pad, pad, pad, pad])),
        ],
    ))
}

fn gemm(g: &mut Graph, w: &BTreeMap<String, F32Tensor>, x: &str, name: &str, out: &str) -> Result<(), ExportError> {
    let (wt, b) = (get(w, &format!("{name}.weight"))?, get(w, &format!("{name}.bias"))?);
    let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
    g.inits.push((wn.clone(), wt.shape.iter().map(|&d| d as i64).collect(), wt.data.clone()));
    // The bias stays 1-D: ONNX Runtime's quantizer fails on a [1, N] Gemm bias.
    g.inits.push((bn.clone(), vec![b.data.len() as i64], b.data.clone()));
    g.nodes.push(Node {
        op: "Gemm",
        name: name.to_string(),
        inputs: vec![x.to_string(), wn, bn],
        outputs: vec![out.to_string()],
        attrs: vec![("transB", Attr::Int(1))],
    });
    Ok(())
}

/// What the exported graph looks like from outside.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphInfo {
    pub in_channels: usize,
    pub classes: usize,
    pub types: usize,
    pub blocks: usize,
}

/// The ONNX model bytes of the ResNet whose (torchvision-named) weights are `w`, for
/// `size` x `size` inputs.
pub fn resnet_onnx(
    w: &BTreeMap<String, F32Tensor>,
    size: usize,
    producer: &str,
) -> Result<(Vec<u8>, GraphInfo), ExportError> {
    let mut g = Graph::default();
    let stem = conv_bn(&mut g, w, "input", "conv1", "bn1", 2)?;
    let r = g.node("Relu", "relu", &[&stem], vec![]);
    let mut x = g.node(
        "MaxPool",
        "maxpool",
        &[&r],
        vec![
            ("kernel_shape", Attr::Ints(vec![3, 3])),
            ("strides", Attr::Ints(vec![2, 2])),
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
        ],
    );
    let mut blocks = 0;
    for l in 1..=4 {
        let mut b = 0;
        while w.contains_key(&format!("layer{l}.{b}.conv1.weight")) {
            let p = format!("layer{l}.{b}");
            let stride = if b == 0 && l > 1 { 2 } else { 1 };
            let bottleneck = w.contains_key(&format!("{p}.conv3.weight"));
            let n = if bottleneck { 3 } else { 2 };
            let mut y = x.clone();
            for c in 1..=n {
                // torchvision puts the stride in the 3x3 convolution: conv2 of a
                // bottleneck, conv1 of a basic block.
                let s = if (bottleneck && c == 2) || (!bottleneck && c == 1) { stride } else { 1 };
                y = conv_bn(&mut g, w, &y, &format!("{p}.conv{c}"), &format!("{p}.bn{c}"), s)?;
                if c < n {
                    y = g.node("Relu", &format!("{p}.relu{c}"), &[&y], vec![]);
                }
            }
            let short = if w.contains_key(&format!("{p}.downsample.0.weight")) {
                conv_bn(&mut g, w, &x, &format!("{p}.downsample.0"), &format!("{p}.downsample.1"), stride)?
            } else {
                x.clone()
            };
            let s = g.node("Add", &format!("{p}.add"), &[&y, &short], vec![]);
            x = g.node("Relu", &format!("{p}.relu"), &[&s], vec![]);
            b += 1;
            blocks += 1;
        }
    }
    if blocks == 0 {
        return Err(ExportError("weights have no residual blocks (layer1.0.conv1.weight missing)".into()));
    }
    let pooled = g.node("GlobalAveragePool", "avgpool", &[&x], vec![]);
    let flat = g.node("Flatten", "flatten", &[&pooled], vec![("axis", Attr::Int(1))]);
    gemm(&mut g, w, &flat, "fc", "logits")?;
    let has_types = w.contains_key("type_fc.weight");
    if has_types {
        gemm(&mut g, w, &flat, "type_fc", "types")?;
    }
    let info = GraphInfo {
        in_channels: get(w, "conv1.weight")?.shape[1],
        classes: get(w, "fc.weight")?.shape[0],
        types: if has_types { get(w, "type_fc.weight")?.shape[0] } else { 0 },
        blocks,
    };
    let mut outputs = vec![("logits", info.classes)];
    if has_types {
        outputs.push(("types", info.types));
    }
    Ok((encode(&g, &info, size, &outputs, producer), info))
}

fn value_info(m: &mut Pb, name: &str, dims: &[Option<usize>]) {
    m.str(1, name);
    m.msg(2, |t| {
        t.msg(1, |tt| {
            tt.int(1, 1); // FLOAT
            tt.msg(2, |shape| {
                for d in dims {
                    shape.msg(1, |dim| match d {
                        Some(v) => dim.int(1, *v as i64),
                        None => dim.str(2, "batch"),
                    });
                }
            });
        });
    });
}

fn encode(g: &Graph, info: &GraphInfo, size: usize, outputs: &[(&str, usize)], producer: &str) -> Vec<u8> {
    let mut m = Pb::default();
    m.int(1, IR_VERSION);
    m.str(2, producer);
    m.msg(7, |gp| {
        for n in &g.nodes {
            gp.msg(1, |np| {
                for i in &n.inputs {
                    np.str(1, i);
                }
                for o in &n.outputs {
                    np.str(2, o);
                }
                np.str(3, &n.name);
                np.str(4, n.op);
                for (name, a) in &n.attrs {
                    np.msg(5, |ap| {
                        ap.str(1, name);
                        match a {
                            Attr::Int(v) => {
                                ap.int(3, *v);
                                ap.int(20, 2);
                            }
                            Attr::Ints(vs) => {
                                for v in vs {
                                    ap.int(8, *v);
                                }
                                ap.int(20, 7);
                            }
                        }
                    });
                }
            });
        }
        gp.str(2, "ichscan_resnet");
        for (name, dims, data) in &g.inits {
            gp.msg(5, |tp| {
                for d in dims {
                    tp.int(1, *d);
                }
                tp.int(2, 1); // FLOAT
                tp.str(8, name);
                let raw: Vec<u8> = data.iter().flat_map(|v| flush_denormal(*v).to_le_bytes()).collect();
                tp.bytes(9, &raw);
            });
        }
        gp.msg(11, |v| value_info(v, "input", &[None, Some(info.in_channels), Some(size), Some(size)]));
        for (name, n) in outputs {
            gp.msg(12, |v| value_info(v, name, &[None, Some(*n)]));
        }
    });
    m.msg(8, |o| {
        o.str(1, "");
        o.int(2, OPSET);
    });
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_spec() {
        // Examples from the protobuf encoding guide: 1 -> 01, 150 -> 96 01, 300 -> ac 02.
        for (v, want) in [(1u64, vec![0x01u8]), (150, vec![0x96, 0x01]), (300, vec![0xac, 0x02])] {
            let mut p = Pb::default();
            p.varint(v);
            assert_eq!(p.0, want);
        }
        // Negative int64 fields take ten bytes (two's complement).
        let mut p = Pb::default();
        p.int(1, -1);
        assert_eq!(p.0.len(), 11);
    }

    #[test]
    fn denormal_weights_are_written_as_zero() {
        assert_eq!(flush_denormal(1e-39), 0.0);
        assert_eq!(flush_denormal(-1e-40), 0.0);
        assert_eq!(flush_denormal(f32::MIN_POSITIVE), f32::MIN_POSITIVE);
        assert_eq!(flush_denormal(-0.25), -0.25);
    }

    #[test]
    fn folding_matches_batchnorm_by_hand() {
        // One 1x1 conv, 2 output channels, weight 2 and 3; BN g=(1,2) b=(0.5,-1) m=(1,0) v=(3,0.25).
        let t = |shape: Vec<usize>, data: Vec<f32>| F32Tensor { shape, data };
        let mut w = BTreeMap::new();
        w.insert("c.weight".into(), t(vec![2, 1, 1, 1], vec![2.0, 3.0]));
        w.insert("b.weight".into(), t(vec![2], vec![1.0, 2.0]));
        w.insert("b.bias".into(), t(vec![2], vec![0.5, -1.0]));
        w.insert("b.running_mean".into(), t(vec![2], vec![1.0, 0.0]));
        w.insert("b.running_var".into(), t(vec![2], vec![3.0, 0.25]));
        let (k, b) = folded(&w, "c", "b").unwrap();
        // For input x: bn(conv(x)) = g (w x - m) / sqrt(v + eps) + beta.
        let x = 1.7f64;
        for o in 0..2 {
            let (wv, g, beta, m, v) = ([2.0, 3.0][o], [1.0, 2.0][o], [0.5, -1.0][o], [1.0, 0.0][o], [3.0, 0.25][o]);
            let want = g * (wv * x - m) / (v + BN_EPS).sqrt() + beta;
            let got = k.data[o] as f64 * x + b[o] as f64;
            assert!((want - got).abs() < 1e-6, "channel {o}: {want} vs {got}");
        }
    }
}
