"""Static int8 quantization of an ichscan ONNX graph with ONNX Runtime's quantizer.

Called by `ichscan export --int8` (crates/classify/src/export.rs embeds this file):
    python quantize_int8.py F32_ONNX CALIB_F32 SHAPE_JSON OUT_ONNX
CALIB_F32 holds normalised model inputs, little-endian float32, shape SHAPE_JSON ([n, c, s, s]).

QDQ format, per-channel int8 weights, uint8 activations (the U8S8 kernels that use VNNI on
x86), MinMax calibration over the given slices. Prints one JSON line describing the settings.
"""
import json
import os
import sys
import tempfile

import numpy as np

# The project venv's torch is libtorch for Rust (no cuDNN): `import torch` fails there, and
# onnxruntime.tools imports it whenever it is installed. The quantizer does not need it.
sys.modules.setdefault("torch", None)
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

src, calib, shape, dst = sys.argv[1:5]
data = np.fromfile(calib, dtype="<f4").reshape(json.loads(shape))


class Reader(CalibrationDataReader):
    def __init__(self):
        self.i = 0

    def get_next(self):
        if self.i >= len(data):
            return None
        batch = data[self.i:self.i + 16]
        self.i += 16
        return {"input": batch}


with tempfile.TemporaryDirectory() as tmp:
    pre = os.path.join(tmp, "pre.onnx")
    quant_pre_process(src, pre, skip_symbolic_shape=True)
    quantize_static(pre, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
print(json.dumps({"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ", "per_channel": True,
                  "weights": "int8", "activations": "uint8", "calibration": "MinMax",
                  "calibration_slices": int(data.shape[0])}))
