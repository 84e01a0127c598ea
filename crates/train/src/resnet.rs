//! ResNet18/34/50 with torchvision's parameter names and layout (`conv1`, `bn1`,
//! `layer{1..4}.{b}.conv{1,2,3}` / `bn{1,2,3}`, `.downsample.0` / `.downsample.1`, `fc`), a
//! 2-class head (haemorrhage, healthy) and an optional 5-output multi-label head for the
//! types (`type_fc`). `width` scales every channel count (64 in torchvision) so tests can
//! use tiny networks with the same structure.

use tch::nn::{self, ModuleT};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Resnet18,
    Resnet34,
    Resnet50,
}

impl Arch {
    pub fn parse(s: &str) -> Option<Arch> {
        match s.to_ascii_lowercase().as_str() {
            "resnet18" => Some(Arch::Resnet18),
            "resnet34" => Some(Arch::Resnet34),
            "resnet50" => Some(Arch::Resnet50),
            _ => None,
        }
    }

    fn blocks(self) -> [i64; 4] {
        match self {
            Arch::Resnet18 => [2, 2, 2, 2],
            Arch::Resnet34 | Arch::Resnet50 => [3, 4, 6, 3],
        }
    }

    fn bottleneck(self) -> bool {
        self == Arch::Resnet50
    }
}

/// Network shape.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    pub arch: Arch,
    /// Channels of the stem (64 in torchvision).
    pub width: i64,
    pub in_channels: i64,
    pub classes: i64,
    /// Outputs of the type head (5), or 0 for none.
    pub types: i64,
}

impl Config {
    pub fn new(arch: Arch) -> Self {
        Config { arch, width: 64, in_channels: 3, classes: 2, types: 0 }
    }

    /// Features entering the heads.
    pub fn features(&self) -> i64 {
        self.width * 8 * if self.arch.bottleneck() { 4 } else { 1 }
    }
}

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig { stride, padding, bias: false, ..Default::default() };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

#[derive(Debug)]
struct Block {
    convs: Vec<nn::Conv2D>,
    bns: Vec<nn::BatchNorm>,
    down: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    fn new(p: &nn::Path, c_in: i64, planes: i64, stride: i64, bottleneck: bool) -> (Block, i64) {
        let (convs, bns, c_out) = if bottleneck {
            let out = planes * 4;
            (
                vec![
                    conv(p / "conv1", c_in, planes, 1, 1, 0),
                    conv(p / "conv2", planes, planes, 3, stride, 1),
                    conv(p / "conv3", planes, out, 1, 1, 0),
                ],
                vec![bn(p / "bn1", planes), bn(p / "bn2", planes), bn(p / "bn3", out)],
                out,
            )
        } else {
            (
                vec![conv(p / "conv1", c_in, planes, 3, stride, 1), conv(p / "conv2", planes, planes, 3, 1, 1)],
                vec![bn(p / "bn1", planes), bn(p / "bn2", planes)],
                planes,
            )
        };
        let down = (stride != 1 || c_in != c_out).then(|| {
            let d = p / "downsample";
            (conv(&d / "0", c_in, c_out, 1, stride, 0), bn(&d / "1", c_out))
        });
        (Block { convs, bns, down }, c_out)
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = x.shallow_clone();
        let n = self.convs.len();
        for (i, (c, b)) in self.convs.iter().zip(&self.bns).enumerate() {
            y = y.apply(c).apply_t(b, train);
            if i + 1 < n {
                // In place, as torchvision does (BatchNorm's backward does not need its output).
                let _ = y.relu_();
            }
        }
        let shortcut = match &self.down {
            Some((c, b)) => x.apply(c).apply_t(b, train),
            None => x.shallow_clone(),
        };
        let _ = y.g_add_(&shortcut);
        let _ = y.relu_();
        y
    }
}

/// A ResNet with its heads.
#[derive(Debug)]
pub struct ResNet {
    pub config: Config,
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    layers: Vec<Vec<Block>>,
    fc: nn::Linear,
    type_fc: Option<nn::Linear>,
}

/// Logits of the two heads.
pub struct Output {
    /// `[N, classes]`: class 0 = haemorrhage, 1 = healthy.
    pub logits: Tensor,
    /// `[N, types]` multi-label logits, when the type head exists.
    pub types: Option<Tensor>,
}

impl ResNet {
    pub fn new(p: &nn::Path, config: Config) -> ResNet {
        let w = config.width;
        let conv1 = conv(p / "conv1", config.in_channels, w, 7, 2, 3);
        let bn1 = bn(p / "bn1", w);
        let mut c_in = w;
        let mut layers = Vec::new();
        for (l, &n) in config.arch.blocks().iter().enumerate() {
            let planes = w << l;
            let lp = p / format!("layer{}", l + 1);
            let mut blocks = Vec::new();
            for b in 0..n {
                let stride = if b == 0 && l > 0 { 2 } else { 1 };
                let (blk, c_out) = Block::new(&(&lp / b.to_string()), c_in, planes, stride, config.arch.bottleneck());
                c_in = c_out;
                blocks.push(blk);
            }
            layers.push(blocks);
        }
        let fc = nn::linear(p / "fc", c_in, config.classes, Default::default());
        let type_fc = (config.types > 0).then(|| nn::linear(p / "type_fc", c_in, config.types, Default::default()));
        ResNet { config, conv1, bn1, layers, fc, type_fc }
    }

    /// Pooled features `[N, features]`.
    pub fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y =
            x.apply(&self.conv1).apply_t(&self.bn1, train).relu().max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for layer in &self.layers {
            for b in layer {
                y = b.forward(&y, train);
            }
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Output {
        let f = self.features(x, train);
        Output { logits: f.apply(&self.fc), types: self.type_fc.as_ref().map(|t| f.apply(t)) }
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward(x, train).logits
    }
}
