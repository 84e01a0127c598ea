//! A reader for PyTorch checkpoints as `torch.save(model.state_dict(), path)` writes them
//! (torch >= 1.6 zip format: `<name>/data.pkl`, a pickle of an `OrderedDict` of tensors,
//! and `<name>/data/<key>`, the raw little-endian storages), so that torchvision's `.pth`
//! ImageNet weights load without Python.
//!
//! Why our own: libtorch's unpickler (`torch::pickle_load`, tch's `Tensor::loadz_multi`)
//! rejects a real state dict — the `OrderedDict` carries a `_metadata` attribute and comes
//! back as None. The pickle here is interpreted by a small stack machine that knows only
//! the opcodes torch.save emits and only these callables: `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter` and the
//! `torch.*Storage` types. Anything else is an error, never code execution.
//!
//! Float tensors (f32, f64, f16, bf16) are returned as f32; integer tensors (BatchNorm's
//! `num_batches_tracked`) are skipped, as [`crate::safetensors::read`] does.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use crate::safetensors::F32Tensor;
use crate::ModelError;

#[derive(Debug, Clone)]
enum Val {
    None,
    /// A value a state dict carries but that is not needed (booleans, floats).
    Other,
    Int(i64),
    Str(String),
    Tuple(Vec<Val>),
    List(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    Global(String, String),
    /// A storage reference: (dtype name as in `torch.FloatStorage`, zip key).
    Storage(String, String),
    Tensor(TensorRef),
    Mark,
}

#[derive(Debug, Clone)]
struct TensorRef {
    dtype: String,
    key: String,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
}

fn ints(v: &Val, what: &str) -> Result<Vec<usize>, String> {
    match v {
        Val::Tuple(t) | Val::List(t) => t
            .iter()
            .map(|x| match x {
                Val::Int(i) if *i >= 0 => Ok(*i as usize),
                _ => Err(format!("{what}: not a tuple of sizes")),
            })
            .collect(),
        _ => Err(format!("{what}: not a tuple")),
    }
}

/// Calls one of the allowed callables.
fn call(f: &Val, args: Vec<Val>) -> Result<Val, String> {
    let Val::Global(m, n) = f else { return Err("REDUCE on a non-callable".into()) };
    match (m.as_str(), n.as_str()) {
        ("collections", "OrderedDict") => Ok(Val::Dict(Vec::new())),
        ("torch._utils", "_rebuild_tensor_v2") => {
            let [Val::Storage(dtype, key), Val::Int(offset), size, stride, ..] = &args[..] else {
                return Err("_rebuild_tensor_v2 with unexpected arguments".into());
            };
            Ok(Val::Tensor(TensorRef {
                dtype: dtype.clone(),
                key: key.clone(),
                offset: usize::try_from(*offset).map_err(|_| "negative storage offset")?,
                shape: ints(size, "tensor size")?,
                strides: ints(stride, "tensor stride")?,
            }))
        }
        // nn.Parameter(tensor, requires_grad, hooks): the tensor is what matters.
        ("torch._utils", "_rebuild_parameter") => match args.into_iter().next() {
            Some(t @ Val::Tensor(_)) => Ok(t),
            _ => Err("_rebuild_parameter without a tensor".into()),
        },
        _ => Err(format!("the pickle calls {m}.{n}, which a state dict does not need (refused)")),
    }
}

/// Runs the pickle and returns the top-level object.
fn unpickle(p: &[u8]) -> Result<Val, String> {
    let mut stack: Vec<Val> = Vec::new();
    let mut memo: HashMap<u32, Val> = HashMap::new();
    let mut i = 0usize;
    let take = |i: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = i.checked_add(n).ok_or("the pickle is truncated")?;
        let s = p.get(*i..end).ok_or("the pickle is truncated")?;
        *i = end;
        Ok(s)
    };
    // BINPUT and BINGET copy values; a crafted pickle could double a list on every copy.
    // Copies are paid for from a budget far above what a state dict needs (a ResNet50's
    // copies about 10^4 values).
    let mut budget: usize = 2_000_000;
    fn weight(v: &Val) -> usize {
        match v {
            Val::Tuple(t) | Val::List(t) => 1 + t.iter().map(weight).sum::<usize>(),
            Val::Dict(d) => 1 + d.iter().map(|(k, v)| weight(k) + weight(v)).sum::<usize>(),
            Val::Tensor(t) => 1 + t.shape.len() * 2,
            _ => 1,
        }
    }
    let u32le = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let line = |i: &mut usize| -> Result<String, String> {
        let end = p[*i..].iter().position(|&b| b == b'\n').ok_or("the pickle is truncated")?;
        let s = String::from_utf8_lossy(&p[*i..*i + end]).into_owned();
        *i += end + 1;
        Ok(s)
    };
    fn pop(stack: &mut Vec<Val>) -> Result<Val, String> {
        stack.pop().ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn pop_mark(stack: &mut Vec<Val>) -> Result<Vec<Val>, String> {
        let m = stack.iter().rposition(|v| matches!(v, Val::Mark)).ok_or("pickle MARK missing")?;
        let items = stack.split_off(m + 1);
        stack.pop();
        Ok(items)
    }
    fn set_items(target: &mut Val, items: Vec<Val>) -> Result<(), String> {
        let Val::Dict(d) = target else { return Err("SETITEMS on a non-dict".into()) };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        Ok(())
    }
    loop {
        let op = *take(&mut i, 1)?.first().expect("1 byte");
        match op {
            0x80 => {
                take(&mut i, 1)?; // PROTO
            }
            0x95 => {
                take(&mut i, 8)?; // FRAME
            }
            b'.' => return pop(&mut stack), // STOP
            b'(' => stack.push(Val::Mark),
            b'N' => stack.push(Val::None),
            0x88 | 0x89 => stack.push(Val::Other),
            b'K' => stack.push(Val::Int(take(&mut i, 1)?[0] as i64)),
            b'M' => {
                let b = take(&mut i, 2)?;
                stack.push(Val::Int(u16::from_le_bytes([b[0], b[1]]) as i64))
            }
            b'J' => {
                let b = take(&mut i, 4)?;
                stack.push(Val::Int(i32::from_le_bytes(b.try_into().expect("4")) as i64))
            }
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = take(&mut i, 1)?[0] as usize;
                let b = take(&mut i, n)?;
                if n > 8 {
                    return Err("integer too large".into());
                }
                let mut v: i64 = 0;
                for (k, &x) in b.iter().enumerate() {
                    v |= (x as i64) << (8 * k);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Val::Int(v))
            }
            b'G' => {
                take(&mut i, 8)?;
                stack.push(Val::Other)
            }
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => u32le(take(&mut i, 4)?) as usize,
                    0x8c => take(&mut i, 1)?[0] as usize,
                    _ => {
                        let b = take(&mut i, 8)?;
                        u64::from_le_bytes(b.try_into().expect("8")) as usize
                    }
                };
                let s = String::from_utf8_lossy(take(&mut i, n)?).into_owned();
                stack.push(Val::Str(s))
            }
            b'c' => {
                let m = line(&mut i)?;
                let n = line(&mut i)?;
                stack.push(Val::Global(m, n))
            }
            0x93 => {
                // STACK_GLOBAL
                let (Val::Str(n), Val::Str(m)) = (pop(&mut stack)?, pop(&mut stack)?) else {
                    return Err("STACK_GLOBAL without names".into());
                };
                stack.push(Val::Global(m, n))
            }
            b'q' => {
                let k = take(&mut i, 1)?[0] as u32;
                let v = stack.last().ok_or("BINPUT on an empty stack")?;
                budget = budget.checked_sub(weight(v)).ok_or("the pickle is too large for a state dict")?;
                memo.insert(k, v.clone());
            }
            b'r' => {
                let k = u32le(take(&mut i, 4)?);
                let v = stack.last().ok_or("LONG_BINPUT on an empty stack")?;
                budget = budget.checked_sub(weight(v)).ok_or("the pickle is too large for a state dict")?;
                memo.insert(k, v.clone());
            }
            0x94 => {
                let k = memo.len() as u32;
                let v = stack.last().ok_or("MEMOIZE on an empty stack")?;
                budget = budget.checked_sub(weight(v)).ok_or("the pickle is too large for a state dict")?;
                memo.insert(k, v.clone());
            }
            b'h' | b'j' => {
                let k = if op == b'h' { take(&mut i, 1)?[0] as u32 } else { u32le(take(&mut i, 4)?) };
                let v = memo.get(&k).ok_or("BINGET of an unknown memo entry")?;
                budget = budget.checked_sub(weight(v)).ok_or("the pickle is too large for a state dict")?;
                stack.push(v.clone())
            }
            b')' => stack.push(Val::Tuple(Vec::new())),
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Val::Tuple(items))
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("pickle stack underflow".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Val::Tuple(items))
            }
            b']' => stack.push(Val::List(Vec::new())),
            b'}' => stack.push(Val::Dict(Vec::new())),
            b'a' | b'e' => {
                let items = if op == b'a' { vec![pop(&mut stack)?] } else { pop_mark(&mut stack)? };
                match stack.last_mut() {
                    Some(Val::List(l)) => l.extend(items),
                    _ => return Err("APPEND to a non-list".into()),
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                set_items(stack.last_mut().ok_or("SETITEM on an empty stack")?, vec![k, v])?
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                set_items(stack.last_mut().ok_or("SETITEMS on an empty stack")?, items)?
            }
            b'R' => {
                let args = match pop(&mut stack)? {
                    Val::Tuple(a) => a,
                    _ => return Err("REDUCE arguments are not a tuple".into()),
                };
                let f = pop(&mut stack)?;
                stack.push(call(&f, args)?)
            }
            b'Q' => {
                // BINPERSID: ('storage', torch.XStorage, key, location, numel)
                let pid = pop(&mut stack)?;
                let Val::Tuple(t) = pid else { return Err("persistent id is not a tuple".into()) };
                match &t[..] {
                    [Val::Str(s), Val::Global(m, dtype), Val::Str(key), ..] if s == "storage" && m == "torch" => {
                        stack.push(Val::Storage(dtype.clone(), key.clone()))
                    }
                    _ => return Err("unknown persistent id (not a tensor storage)".into()),
                }
            }
            b'b' => {
                // BUILD: the state of the object below (the state dict's `_metadata`,
                // a parameter's attributes) is not needed.
                pop(&mut stack)?;
            }
            op => return Err(format!("pickle opcode 0x{op:02x} is not one torch.save writes for a state dict")),
        }
    }
}

fn element(dtype: &str) -> Result<Option<usize>, String> {
    Ok(match dtype {
        "FloatStorage" => Some(4),
        "DoubleStorage" => Some(8),
        "HalfStorage" | "BFloat16Storage" => Some(2),
        "LongStorage" | "IntStorage" | "ShortStorage" | "CharStorage" | "ByteStorage" | "BoolStorage" => None,
        d => return Err(format!("storage type {d} is not supported")),
    })
}

fn to_f32(dtype: &str, b: &[u8]) -> f32 {
    match dtype {
        "FloatStorage" => f32::from_le_bytes(b.try_into().expect("4")),
        "DoubleStorage" => f64::from_le_bytes(b.try_into().expect("8")) as f32,
        "BFloat16Storage" => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
        _ => half_to_f32(u16::from_le_bytes([b[0], b[1]])),
    }
}

fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f32;
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// Upper bounds on what one zip entry may expand to (a ResNet50 state dict: 100 MB).
const MAX_PICKLE: u64 = 256 << 20;
const MAX_STORAGE: u64 = 4 << 30;

fn read_entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    max: u64,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let f = zip.by_name(name).map_err(|e| e.to_string())?;
    if f.size() > max {
        return Err(format!("{} bytes, more than a state dict holds", f.size()));
    }
    f.take(max + 1).read_to_end(out).map_err(|e| e.to_string())?;
    if out.len() as u64 > max {
        return Err("expands beyond its declared size".into());
    }
    Ok(())
}

/// Reads every float tensor of a `torch.save`d state dict, by name.
pub fn read(path: &Path) -> Result<BTreeMap<String, F32Tensor>, ModelError> {
    let err = |m: String| ModelError::new(path, m);
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|_| {
        err("not a PyTorch zip checkpoint (torch.save of torch >= 1.6; re-save older files with a current torch)"
            .into())
    })?;
    let pkl = (0..zip.len())
        .filter_map(|k| zip.name_for_index(k).map(str::to_string))
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .ok_or_else(|| err("a zip without <name>/data.pkl: not a torch.save checkpoint".into()))?;
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    let mut bytes = Vec::new();
    read_entry(&mut zip, &pkl, MAX_PICKLE, &mut bytes).map_err(|m| err(format!("{pkl}: {m}")))?;
    let top = unpickle(&bytes).map_err(|m| err(format!("{pkl}: {m}")))?;
    let Val::Dict(items) = top else {
        return Err(err("the checkpoint is not a state dict (a dict of tensors)".into()));
    };
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = BTreeMap::new();
    for (k, v) in items {
        let Val::Str(name) = k else { return Err(err("a state-dict key that is not a string".into())) };
        let Val::Tensor(t) = v else { continue };
        let Some(es) = element(&t.dtype).map_err(|m| err(format!("tensor {name}: {m}")))? else { continue };
        if !storages.contains_key(&t.key) {
            let entry = format!("{prefix}data/{}", t.key);
            let mut b = Vec::new();
            read_entry(&mut zip, &entry, MAX_STORAGE, &mut b)
                .map_err(|m| err(format!("tensor {name}: storage {entry}: {m}")))?;
            storages.insert(t.key.clone(), b);
        }
        let s = &storages[&t.key];
        if t.strides.len() != t.shape.len() {
            return Err(err(format!("tensor {name}: size and stride differ in length")));
        }
        // The last element the view reaches must lie in the storage: checked before any
        // allocation, with checked arithmetic (sizes come from the file).
        let past = || err(format!("tensor {name}: reaches past its storage (truncated or corrupt file)"));
        let count = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(past)?;
        if count > 0 {
            let last = t
                .shape
                .iter()
                .zip(&t.strides)
                .try_fold(t.offset, |a, (&d, &st)| (d - 1).checked_mul(st).and_then(|x| a.checked_add(x)));
            let end = last.and_then(|l| l.checked_add(1)).and_then(|l| l.checked_mul(es));
            if end.is_none_or(|e| e > s.len()) {
                return Err(past());
            }
        }
        // Gather in row-major order through the strides (checkpoints may hold views).
        let mut data = Vec::with_capacity(count);
        let mut idx = vec![0usize; t.shape.len()];
        for _ in 0..count {
            let e = t.offset + idx.iter().zip(&t.strides).map(|(i, s)| i * s).sum::<usize>();
            data.push(to_f32(&t.dtype, &s[e * es..(e + 1) * es]));
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < t.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out.insert(name, F32Tensor { shape: t.shape, data });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats() {
        // IEEE binary16 by hand: 0x3c00 = 1, 0xc000 = -2, 0x3555 ~ 1/3, 0x0001 = 2^-24.
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert!((half_to_f32(0x3555) - 0.333_251_95).abs() < 1e-7);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
    }

    #[test]
    fn a_huge_binget_doubling_is_stopped() {
        // EMPTY_LIST, BINPUT 0, then 64 x (BINGET 0, APPEND, BINPUT 0 of the grown list):
        // each copy doubles the list; the budget ends it with an error, not memory.
        let mut p = b"\x80\x02]q\x00".to_vec();
        for _ in 0..64 {
            p.extend_from_slice(b"h\x00aq\x00");
        }
        p.push(b'.');
        let e = unpickle(&p).unwrap_err();
        assert!(e.contains("too large"), "{e}");
    }

    #[test]
    fn code_in_a_pickle_is_refused() {
        // GLOBAL os.system, a string, TUPLE1, REDUCE, STOP: the classic pickle exploit.
        let p = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.";
        let e = unpickle(p).unwrap_err();
        assert!(e.contains("os.system") && e.contains("refused"), "{e}");
    }
}
