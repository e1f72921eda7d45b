"""Tests of the T2S (GPT) model: upstream key names and maths, KV cache, mixed batches, sampling, stop rules."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from sovits_core.t2s import GenerateOptions, T2SConfig, T2SModel, T2SRequest, generate
from sovits_core.t2s.batch import attention_mask
from sovits_core.t2s.kv_cache import KVCache
from sovits_core.t2s.ops import onednn_linear_enabled, set_onednn_linear
from sovits_core.t2s.sampling import N_STEPS_WITHOUT_EOS, RepetitionPenalty, TopK, TopP
from sovits_core.t2s.testing import TINY_CONFIG, seeded_model, seeded_request, seeded_state_dict


FIXTURE = Path(__file__).parent / "data" / "t2s_upstream_parity.json"

# Upstream Text2SemanticDecoder(config).state_dict() for hidden 32, 2 heads, 2 layers, v2 vocabularies: read off
# AR/models/t2s_model.py (bert_proj, TokenEmbedding.word_embeddings, SinePositionalEmbedding.alpha,
# TransformerEncoder.layers[i] = MultiheadAttention in_proj/out_proj + linear1/2 + norm1/2, ar_predict_layer
# without bias; the torchmetrics accuracy metric has no persistent state).
_LAYER_KEYS = [
    ("self_attn.in_proj_weight", (96, 32)),
    ("self_attn.in_proj_bias", (96,)),
    ("self_attn.out_proj.weight", (32, 32)),
    ("self_attn.out_proj.bias", (32,)),
    ("linear1.weight", (128, 32)),
    ("linear1.bias", (128,)),
    ("linear2.weight", (32, 128)),
    ("linear2.bias", (32,)),
    ("norm1.weight", (32,)),
    ("norm1.bias", (32,)),
    ("norm2.weight", (32,)),
    ("norm2.bias", (32,)),
]
UPSTREAM_TINY_KEYS = [
    ("bert_proj.weight", (32, 1024)),
    ("bert_proj.bias", (32,)),
    ("ar_text_embedding.word_embeddings.weight", (732, 32)),
    ("ar_text_position.alpha", (1,)),
    ("ar_audio_embedding.word_embeddings.weight", (1025, 32)),
    ("ar_audio_position.alpha", (1,)),
    *[(f"h.layers.{layer}.{name}", shape) for layer in range(2) for name, shape in _LAYER_KEYS],
    ("ar_predict_layer.weight", (1025, 32)),
]

S1LONGER_V2 = {
    "train": {"seed": 1234, "epochs": 20},
    "data": {"max_eval_sample": 8, "max_sec": 54, "num_workers": 4, "pad_val": 1024},
    "model": {
        "vocab_size": 1025,
        "phoneme_vocab_size": 732,
        "embedding_dim": 512,
        "hidden_dim": 512,
        "head": 16,
        "linear_units": 2048,
        "n_layer": 24,
        "dropout": 0,
        "EOS": 1024,
        "random_bert": 0,
    },
    "inference": {"top_k": 15},
}


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    """Tiny models gain nothing from threads, and on a shared CPU thread hand-offs cost milliseconds per op."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model() -> T2SModel:
    return seeded_model(TINY_CONFIG, seed=1234, eos_bias=2.5)


def _greedy(request: T2SRequest) -> T2SRequest:
    return T2SRequest(request.phone_ids, request.bert, request.prompt_codes, seed=request.seed, top_k=1)


def _mixed_requests(**sampling) -> list[T2SRequest]:
    shapes = [(10, 20), (14, 0), (6, 12), (9, 16), (3, 1)]  # (phones, prompt codes); one reference-free row
    return [seeded_request(t, p, 100 + i, seed=i, **sampling) for i, (t, p) in enumerate(shapes)]


# --- config and state dict ---------------------------------------------------------------------------------


def test_config_reads_and_writes_upstream_layout() -> None:
    cfg = T2SConfig.from_ckpt_config(S1LONGER_V2)
    assert cfg == T2SConfig()
    assert (cfg.n_heads, cfg.n_layers, cfg.max_sec, cfg.eos) == (16, 24, 54, 1024)
    assert cfg.default_max_new_tokens == 1500  # min(50 * 54, upstream's 1500 loop steps)
    written = cfg.to_ckpt_config()
    assert {k: written["model"][k] for k in written["model"]} == {
        k: v for k, v in S1LONGER_V2["model"].items() if k != "random_bert"
    }
    assert T2SConfig.from_ckpt_config(written) == cfg


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["model"].pop("head"), "config['model']['head']"),
        (lambda c: c.pop("data"), "config['data']"),
        (lambda c: c["model"].update(EOS=5), "eos must be vocab_size - 1"),
        (lambda c: c["model"].update(n_layer="24"), "config['model']['n_layer'] must be int"),
        (lambda c: c["model"].update(head=7), "not divisible by n_heads"),
    ],
)
def test_config_errors_name_the_key(mutate, message: str) -> None:
    cfg = json.loads(json.dumps(S1LONGER_V2))
    mutate(cfg)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        T2SConfig.from_ckpt_config(cfg)


def test_state_dict_keys_and_shapes_equal_upstream() -> None:
    state = T2SModel(TINY_CONFIG).state_dict()
    assert [(key, tuple(value.shape)) for key, value in state.items()] == UPSTREAM_TINY_KEYS


def test_loads_prefixed_half_precision_checkpoint_weights() -> None:
    source = seeded_state_dict(TINY_CONFIG, seed=5)
    ckpt_weight = {f"model.{key}": value.half() for key, value in source.items()}  # s1_train saves fp16
    model = T2SModel(TINY_CONFIG)
    model.load_state_dict({k[len("model.") :]: v for k, v in ckpt_weight.items()}, strict=True)
    loaded = model.state_dict()
    assert loaded["ar_predict_layer.weight"].dtype == torch.float32
    for key, value in source.items():
        assert torch.equal(loaded[key], value.half().float()), key


@pytest.mark.parametrize("problem", ["missing", "unexpected", "shape"])
def test_strict_load_errors_name_the_key(problem: str) -> None:
    weights = seeded_state_dict(TINY_CONFIG)
    key = "h.layers.1.linear2.weight"
    if problem == "missing":
        del weights[key]
    elif problem == "unexpected":
        key = "h.norm.weight"
        weights[key] = torch.ones(32)
    else:
        weights[key] = torch.zeros(32, 64)
    with pytest.raises(RuntimeError, match=key.replace(".", r"\.")):
        T2SModel(TINY_CONFIG).load_state_dict(weights, strict=True)


# --- parity with upstream ----------------------------------------------------------------------------------


def _fixture() -> dict:
    return json.loads(FIXTURE.read_text())


def test_matches_upstream_outputs_row_by_row() -> None:
    fx = _fixture()
    assert T2SConfig.from_ckpt_config(fx["config"]) == TINY_CONFIG
    model = seeded_model(TINY_CONFIG, fx["weight_seed"], fx["eos_bias"])
    for case in fx["cases"]:
        request = seeded_request(case["n_phones"], case["n_prompt"], case["input_seed"], **case["sampling"])
        if case["first_logits"] is not None:
            hidden = model(
                model.embed_prefix(request.phone_ids, request.bert, request.prompt_codes).unsqueeze(0),
                attention_mask(
                    torch.zeros(1, dtype=torch.long),
                    torch.tensor([case["n_phones"]]),
                    case["n_phones"] + case["n_prompt"],
                ),
            )
            logits = model.logits(hidden[:, -1])[0]
            torch.testing.assert_close(logits, torch.tensor(case["first_logits"]), atol=2e-4, rtol=0)
        out = generate(model, [request], GenerateOptions(early_stop_num=case["early_stop_num"]))[0]
        assert out.tokens.tolist() == case["tokens"], case["name"]
        assert out.stop_reason == case["stop_reason"], case["name"]


def test_seeded_sampling_in_mixed_batch_matches_upstream_alone() -> None:
    fx = _fixture()
    model = seeded_model(TINY_CONFIG, fx["weight_seed"], fx["eos_bias"])
    cases = [c for c in fx["cases"] if c["early_stop_num"] == 60]
    assert len(cases) >= 3 and any(c["n_prompt"] == 0 for c in cases)
    requests = [seeded_request(c["n_phones"], c["n_prompt"], c["input_seed"], **c["sampling"]) for c in cases]
    outputs = generate(model, requests, GenerateOptions(early_stop_num=60))
    assert [out.tokens.tolist() for out in outputs] == [c["tokens"] for c in cases]


# --- batching and cache ------------------------------------------------------------------------------------


def test_greedy_row_alone_equals_row_in_mixed_batch(model: T2SModel) -> None:
    requests = _mixed_requests(top_k=1)
    options = GenerateOptions(max_new_tokens=48)
    batched = generate(model, requests, options)
    alone = [generate(model, [request], options)[0] for request in requests]
    assert len({out.tokens.numel() for out in batched}) > 1, "rows should finish at different steps"
    assert {out.stop_reason for out in batched} == {"eos", "max_len"}
    for got, want in zip(batched, alone, strict=True):
        assert got.stop_reason == want.stop_reason
        assert torch.equal(got.tokens, want.tokens)


def test_kv_cache_equals_full_recompute(model: T2SModel) -> None:
    requests = _mixed_requests(top_k=15, temperature=0.9)
    with_cache = generate(model, requests, GenerateOptions(max_new_tokens=40))
    without = generate(model, requests, GenerateOptions(max_new_tokens=40, use_kv_cache=False))
    assert len({out.tokens.numel() for out in with_cache}) > 1, "rows should leave the batch at different steps"
    for got, want in zip(with_cache, without, strict=True):
        assert (got.stop_reason, got.tokens.tolist()) == (want.stop_reason, want.tokens.tolist())


def test_finished_rows_leave_the_batch(model: T2SModel, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    original = KVCache.select_rows

    def spy(self: KVCache, index: torch.Tensor) -> None:
        original(self, index)
        sizes.append(self.batch_size)

    monkeypatch.setattr(KVCache, "select_rows", spy)
    outputs = generate(model, _mixed_requests(top_k=1), GenerateOptions(max_new_tokens=48))
    n_eos = sum(out.stop_reason == "eos" for out in outputs)
    assert 0 < n_eos < len(outputs)
    assert sizes and sizes == sorted(sizes, reverse=True) and sizes[-1] == len(outputs) - n_eos


def test_kv_cache_grow_trim_and_select() -> None:
    cache = KVCache(1, 3, 2, 4, capacity=2, max_length=10, dtype=torch.float32, device=torch.device("cpu"))
    keys = torch.arange(3 * 2 * 2 * 4, dtype=torch.float32).view(3, 2, 2, 4)
    cache.reserve(2)
    cache.append(0, keys, -keys)
    cache.advance(2)
    cache.trim_left(1)
    cache.reserve(3)  # grows; keeps only the live column
    assert cache.capacity >= 4 and cache.offset == 0
    k, v = cache.append(0, keys[:, :, :1] + 100, keys[:, :, :1])
    assert torch.equal(k[:, :, 0], keys[:, :, 1]) and torch.equal(v[:, :, 0], -keys[:, :, 1])
    assert torch.equal(k[:, :, 1], keys[:, :, 0] + 100)
    cache.advance(1)
    cache.select_rows(torch.tensor([2, 0]))
    assert cache.batch_size == 2
    assert torch.equal(cache.data[0, 0, 0, :, 1], keys[2, :, 0] + 100)


# --- sampling ----------------------------------------------------------------------------------------------


def test_seeded_sampling_reproducible_and_seed_dependent(model: T2SModel) -> None:
    options = GenerateOptions(max_new_tokens=30)
    request = seeded_request(9, 16, 7, seed=42, top_k=30, temperature=1.3, repetition_penalty=1.0)
    other_seed = seeded_request(9, 16, 7, seed=43, top_k=30, temperature=1.3, repetition_penalty=1.0)
    first, again, other = (generate(model, [r], options)[0].tokens for r in (request, request, other_seed))
    assert torch.equal(first, again)
    assert not torch.equal(first[: min(len(first), len(other))], other[: min(len(first), len(other))])
    in_batch = generate(model, [other_seed, request, seeded_request(4, 0, 3, seed=9)], options)[1]
    assert torch.equal(in_batch.tokens, first)


def test_repetition_penalty_rule() -> None:
    logits = torch.tensor([[2.0, -2.0, 3.0, -1.0, 0.5], [2.0, -2.0, 3.0, -1.0, 0.5]])
    seen = torch.tensor([[True, True, False, False, False], [False, False, False, True, False]])
    out = RepetitionPenalty(torch.tensor([[2.0], [1.0]]), seen)(logits)
    assert out.tolist() == [[1.0, -4.0, 3.0, -1.0, 0.5], [2.0, -2.0, 3.0, -1.0, 0.5]]


def test_repetition_penalty_discourages_repeats() -> None:
    quiet = seeded_model(TINY_CONFIG, seed=3, eos_bias=-200.0)

    def n_repeats(penalty: float) -> int:
        request = seeded_request(6, 12, 3, top_k=1, repetition_penalty=penalty)
        tokens = generate(quiet, [request], GenerateOptions(max_new_tokens=30))[0].tokens.tolist()
        assert len(tokens) == 30
        return len(tokens) - len(set(tokens))

    assert n_repeats(1.0) > n_repeats(1.35) > n_repeats(2.0)


def test_top_k_and_top_p_per_row() -> None:
    logits = torch.tensor([[1.0, 4.0, 3.0, 3.0, 0.0]] * 3)
    out = TopK(torch.tensor([1, 2, 0]))(logits)  # k=2 keeps the tie at 3.0 too (values < pivot removed)
    inf = float("-inf")
    assert out.tolist() == [[inf, 4.0, inf, inf, inf], [inf, 4.0, 3.0, 3.0, inf], logits[0].tolist()]
    probs_logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]] * 2))
    kept = TopP(torch.tensor([[0.85], [1.0]]))(probs_logits)
    assert torch.isinf(kept[0]).tolist() == [False, False, True, True]  # 0.5+0.3 <= 0.85 < 0.95
    assert not torch.isinf(kept[1]).any()


# --- stopping ----------------------------------------------------------------------------------------------


def test_eos_not_before_step_11_then_stops() -> None:
    eager = seeded_model(TINY_CONFIG, seed=3, eos_bias=200.0)
    outputs = generate(eager, _mixed_requests(top_k=5), GenerateOptions(max_new_tokens=40))
    assert [(out.stop_reason, out.tokens.numel()) for out in outputs] == [("eos", N_STEPS_WITHOUT_EOS)] * 5
    assert all(int(out.tokens.max()) < TINY_CONFIG.eos for out in outputs)


def test_max_len_and_early_stop_num() -> None:
    quiet = seeded_model(TINY_CONFIG, seed=3, eos_bias=-200.0)
    requests = _mixed_requests(top_k=5)
    capped = generate(quiet, requests, GenerateOptions(max_new_tokens=17))
    assert [(out.stop_reason, out.tokens.numel()) for out in capped] == [("max_len", 17)] * 5
    early = generate(quiet, requests, GenerateOptions(early_stop_num=12))  # upstream keeps early_stop_num + 1
    assert [out.tokens.numel() for out in early] == [13] * 5
    assert all(torch.equal(a.tokens[:13], b.tokens) for a, b in zip(capped, early, strict=True))


# --- inputs, kernels, dtypes -------------------------------------------------------------------------------


def test_request_validation_names_the_problem(model: T2SModel) -> None:
    good = seeded_request(5, 3, 1)
    with pytest.raises(ValueError, match="bert must be"):
        T2SRequest(good.phone_ids, good.bert[:, :4], good.prompt_codes)
    with pytest.raises(ValueError, match="top_k"):
        T2SRequest(good.phone_ids, good.bert, good.prompt_codes, top_k=-1)
    bad_codes = T2SRequest(good.phone_ids, good.bert, torch.tensor([3, 1024]))
    with pytest.raises(ValueError, match=r"request 1: prompt_codes must be semantic codes in \[0, 1024\)"):
        generate(model, [good, bad_codes])
    assert generate(model, []) == []


def test_plain_linear_path_gives_same_tokens(model: T2SModel) -> None:
    requests = _mixed_requests(top_k=1)
    options = GenerateOptions(max_new_tokens=24)
    fast = generate(model, requests, options)
    set_onednn_linear(False)
    try:
        plain = generate(model, requests, options)
    finally:
        set_onednn_linear(None)
    assert onednn_linear_enabled() in (True, False)
    assert [o.tokens.tolist() for o in fast] == [o.tokens.tolist() for o in plain]


def test_reloading_weights_refreshes_packed_kernels() -> None:
    requests = _mixed_requests(top_k=1)[:2]
    options = GenerateOptions(max_new_tokens=16)
    reused = seeded_model(TINY_CONFIG, seed=1)
    generate(reused, requests, options)  # packs seed-1 weights for the fast CPU kernel
    reused.load_state_dict(seeded_state_dict(TINY_CONFIG, seed=2))
    fresh = seeded_model(TINY_CONFIG, seed=2)
    got, want = generate(reused, requests, options), generate(fresh, requests, options)
    assert [o.tokens.tolist() for o in got] == [o.tokens.tolist() for o in want]


def test_model_pickles_after_decoding() -> None:
    model = seeded_model(TINY_CONFIG, seed=1)
    request = seeded_request(5, 3, 1, top_k=1)
    first = generate(model, [request], GenerateOptions(max_new_tokens=12))[0]
    copied = pickle.loads(pickle.dumps(model))  # e.g. shipping a model to a worker process
    assert torch.equal(generate(copied, [request], GenerateOptions(max_new_tokens=12))[0].tokens, first.tokens)


def test_bfloat16_model_decodes_on_its_dtype(monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = seeded_model(TINY_CONFIG, seed=3, eos_bias=-200.0).to(torch.bfloat16)
    dtypes: list[torch.dtype] = []
    original = KVCache.__init__

    def spy(self: KVCache, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        dtypes.append(self.data.dtype)

    monkeypatch.setattr(KVCache, "__init__", spy)
    outputs = generate(quiet, _mixed_requests(top_k=3)[:3], GenerateOptions(max_new_tokens=12))
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert [(out.stop_reason, out.tokens.numel()) for out in outputs] == [("max_len", 12)] * 3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_half_matches_mixed_batch_rule() -> None:
    model = seeded_model(TINY_CONFIG, seed=1234, eos_bias=2.5).cuda().half()
    requests = _mixed_requests(top_k=1)
    batched = generate(model, requests, GenerateOptions(max_new_tokens=32))
    alone = [generate(model, [r], GenerateOptions(max_new_tokens=32))[0] for r in requests]
    assert all(out.tokens.device.type == "cuda" for out in batched)
    agree = sum(torch.equal(a.tokens, b.tokens) for a, b in zip(batched, alone, strict=True))
    assert agree >= len(requests) - 1  # fp16 rounding may flip a near-tie in one row
