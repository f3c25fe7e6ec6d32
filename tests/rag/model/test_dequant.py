"""Our numpy dequantisation equals the gguf package's reference for every supported type."""
from __future__ import annotations

import gguf
import numpy as np
import pytest
from gguf.quants import dequantize as ref_dequantize
from gguf.quants import quantize as ref_quantize

from rag.model.dequant import QTYPES_BY_NAME, dequantize, ggml_type_name, q4_k_scales, qtype_for
from rag.model.errors import UnsupportedQuantError

# byte offsets of the f16 scale fields inside one block, set to finite values so NaN never compares
SCALE_FIELDS = {"Q8_0": (0,), "Q4_0": (0,), "Q4_1": (0, 2), "Q5_0": (0,), "Q5_1": (0, 2), "Q2_K": (80, 82),
                "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}


def random_blocks(qtype: str, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Random raw blocks of qtype whose f16 scales are finite."""
    info = QTYPES_BY_NAME[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, info.type_size), dtype=np.uint8)
    for at in SCALE_FIELDS[qtype]:
        scale = rng.uniform(-2.0, 2.0, size=(n_blocks, 1)).astype(np.float16)
        raw[:, at : at + 2] = scale.view(np.uint8)
    return raw


@pytest.mark.parametrize("qtype", list(SCALE_FIELDS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_types_match_reference(qtype, seed):
    rng = np.random.default_rng(seed)
    raw = random_blocks(qtype, 64, rng)
    ours = dequantize(raw, qtype)
    ref = ref_dequantize(raw, gguf.GGMLQuantizationType[qtype]).reshape(-1)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("qtype", ["F16", "BF16"])
def test_float_types_match_reference(qtype):
    rng = np.random.default_rng(3)
    values = (rng.standard_normal((16, 64)) * 10).astype(np.float32)
    raw = np.ascontiguousarray(ref_quantize(values, gguf.GGMLQuantizationType[qtype])).view(np.uint8)
    ours = dequantize(raw, qtype)
    np.testing.assert_array_equal(ours, ref_dequantize(raw, gguf.GGMLQuantizationType[qtype]).reshape(-1))
    np.testing.assert_allclose(ours, values.reshape(-1), rtol=1e-2, atol=1e-2)


def test_f32_is_bit_exact():
    values = np.random.default_rng(4).standard_normal(100).astype(np.float32)
    np.testing.assert_array_equal(dequantize(values.view(np.uint8), "F32"), values)


def test_quantised_round_trip_is_close():
    values = np.random.default_rng(5).standard_normal((8, 64)).astype(np.float32)
    for qtype, tol in (("Q8_0", 0.02), ("Q4_0", 0.3), ("Q4_1", 0.3)):
        raw = ref_quantize(values, gguf.GGMLQuantizationType[qtype])
        assert np.abs(dequantize(raw, qtype) - values.reshape(-1)).max() < tol


def test_q4_k_scale_unpacking_by_hand():
    # sub-block 0: scale = byte0 & 63, min = byte4 & 63; sub-block 4: low nibble of byte8 | top bits of byte0
    scales = np.zeros((1, 12), dtype=np.uint8)
    scales[0, 0] = 0b11_000101  # scale0 = 5, top bits 3 -> scale4 high bits
    scales[0, 4] = 0b01_000111  # min0 = 7, top bits 1 -> min4 high bits
    scales[0, 8] = 0b1001_0010  # scale4 low = 2, min4 low = 9
    sc, mn = q4_k_scales(scales)
    assert sc[0, 0] == 5 and mn[0, 0] == 7
    assert sc[0, 4] == (3 << 4) | 2 and mn[0, 4] == (1 << 4) | 9


def test_unsupported_type_names_type_and_tensor():
    with pytest.raises(UnsupportedQuantError, match=r"blk\.0\.ffn_up\.weight.*IQ4_NL") as err:
        qtype_for(gguf.GGMLQuantizationType.IQ4_NL, tensor="blk.0.ffn_up.weight", path="/x/model.gguf")
    assert "/x/model.gguf" in str(err.value)
    with pytest.raises(UnsupportedQuantError, match="IQ2_XS"):
        dequantize(np.zeros(66, np.uint8), "IQ2_XS", tensor="t", path="m.gguf")
    assert ggml_type_name(9999) == "type id 9999"
