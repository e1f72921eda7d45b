"""Regenerate ``t2s_upstream_parity.json``: outputs of upstream GPT-SoVITS's T2S decoder on seeded tiny weights.

Not run by the test suite. It needs upstream GPT-SoVITS (read-only checkout) and a separate venv holding what
upstream's ``AR.models.t2s_model`` imports (torch==2.13.0, torchmetrics, tqdm), e.g.::

    python -m venv /work/upstream-venv-t2s
    /work/upstream-venv-t2s/bin/pip install torch==2.13.0 torchmetrics tqdm
    PYTHONPATH=/work/main:/work/upstream/GPT_SoVITS /work/upstream-venv-t2s/bin/python \
        tests/core/data/make_t2s_upstream_parity.py tests/core/data/t2s_upstream_parity.json

The weights (``seeded_state_dict``) and inputs (``seeded_request``) are rebuilt from seeds by
``sovits_core.t2s.testing``, loaded into upstream's ``Text2SemanticDecoder`` with ``strict=True`` (which also checks
that our key names and shapes equal upstream's) and decoded with upstream's ``infer_panel`` after
``torch.manual_seed(seed)`` (what upstream's ``set_seed`` does on CPU). The JSON holds only data: case settings,
generated tokens and the first step's logits.
"""

import json
import logging
import sys

import torch
from AR.models.t2s_model import Text2SemanticDecoder

from sovits_core.t2s.testing import TINY_CONFIG, seeded_request, seeded_state_dict


logger = logging.getLogger("make_t2s_upstream_parity")

WEIGHT_SEED = 1234
EOS_BIAS = 2.5
N_LOGIT_CASES = 3  # first-step logits are stored for the first cases only (keeps the file small)
CASES = [
    # name, n_phones, n_prompt, input seed, sampling, early_stop_num
    ("greedy_prompt", 10, 20, 1, dict(top_k=1, repetition_penalty=1.35), 40),
    ("greedy_ref_free", 14, 0, 2, dict(top_k=1, repetition_penalty=1.35), 40),
    ("greedy_no_penalty", 6, 12, 3, dict(top_k=1, repetition_penalty=1.0), 30),
    ("sample_default", 9, 16, 4, dict(seed=7, top_k=15, repetition_penalty=1.35), 60),
    ("sample_top_p", 11, 8, 5, dict(seed=11, top_k=5, top_p=0.8, temperature=0.7, repetition_penalty=1.35), 60),
    ("sample_ref_free_hot", 8, 0, 6, dict(seed=3, top_k=20, temperature=1.2, repetition_penalty=1.0), 60),
    ("sample_early_stop", 12, 30, 7, dict(seed=5, top_k=15, temperature=0.9, repetition_penalty=1.35), 13),
]


def run_case(model, n_phones, n_prompt, input_seed, sampling, early_stop_num):
    request = seeded_request(n_phones, n_prompt, input_seed, **sampling)
    captured = []
    handle = model.ar_predict_layer.register_forward_hook(lambda mod, inp, out: captured.append(out.detach().clone()))
    torch.manual_seed(request.seed)
    with torch.no_grad():
        y, _ = model.infer_panel(
            request.phone_ids.unsqueeze(0),
            torch.tensor([n_phones]),
            request.prompt_codes.unsqueeze(0) if n_prompt else None,
            request.bert.unsqueeze(0),
            top_k=request.top_k,
            top_p=request.top_p,
            early_stop_num=early_stop_num,
            temperature=request.temperature,
            repetition_penalty=request.repetition_penalty,
        )
    handle.remove()
    tokens = y[0, n_prompt:].tolist()
    reason = "max_len" if len(tokens) == early_stop_num + 1 else "eos"
    return tokens, reason, captured[0][0].tolist()


def main(out_path):
    model = Text2SemanticDecoder(TINY_CONFIG.to_ckpt_config())
    model.load_state_dict(seeded_state_dict(TINY_CONFIG, WEIGHT_SEED, EOS_BIAS), strict=True)
    model.eval()
    cases = []
    for name, n_phones, n_prompt, input_seed, sampling, early_stop_num in CASES:
        tokens, reason, logits = run_case(model, n_phones, n_prompt, input_seed, sampling, early_stop_num)
        cases.append(
            dict(
                name=name,
                n_phones=n_phones,
                n_prompt=n_prompt,
                input_seed=input_seed,
                sampling=sampling,
                early_stop_num=early_stop_num,
                tokens=tokens,
                stop_reason=reason,
                first_logits=[round(v, 5) for v in logits] if len(cases) < N_LOGIT_CASES else None,
            )
        )
        logger.info("%s: %s after %d tokens, first %s", name, reason, len(tokens), tokens[:8])
    fixture = dict(
        description="Upstream GPT-SoVITS Text2SemanticDecoder.infer_panel outputs; see make_t2s_upstream_parity.py",
        upstream_commit="48b1a016",
        torch_version=torch.__version__,
        config=TINY_CONFIG.to_ckpt_config(),
        weight_seed=WEIGHT_SEED,
        eos_bias=EOS_BIAS,
        cases=cases,
    )
    with open(out_path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(sys.argv[1])
