"""The exported loss in a real TRL DPOTrainer run on CPU: a tiny Llama built from a config (no download), a
word-level tokenizer built locally, an in-memory preference dataset, 20 steps."""
import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("datasets")
trl = pytest.importorskip("trl")

from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

from discovery.cli import main  # noqa: E402
from tests.discovery.export.helpers import import_file, write_run  # noqa: E402

WORDS = [f"w{i}" for i in range(12)] + ["yes", "good", "no", "bad"]
STEPS = 20


@pytest.fixture(autouse=True)
def one_thread():
    # a tiny model on a shared 2-core machine: threads only contend (measured: 10 s per run vs 1 s)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tokenizer():
    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<bos>", "<unk>"] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                   unk_token="<unk>")


def dataset(n=32):
    """Prompts of 3 random words; chosen 'yes good ...', rejected 'no bad ...', of varying lengths."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        prompt = " ".join(WORDS[j] for j in rng.integers(0, 12, size=3))
        rows.append({"prompt": prompt, "chosen": " " + " ".join(["yes", "good"] * (1 + i % 3)),
                     "rejected": " " + " ".join(["no", "bad", "bad"][: 1 + i % 3] * 2)})
    return Dataset.from_list(rows)


def tiny_llama():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(WORDS) + 4, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                      pad_token_id=0, eos_token_id=1, bos_token_id=2)
    return LlamaForCausalLM(cfg)


def train(trainer_cls, tmp_path, steps=STEPS, explicit_ref=True, **config):
    model = tiny_llama()
    args = DPOConfig(output_dir=str(tmp_path / "out"), max_steps=steps, per_device_train_batch_size=4,
                     learning_rate=5e-3, logging_steps=1, report_to="none", save_strategy="no", seed=0,
                     use_cpu=True, disable_tqdm=True, **config)
    trainer = trainer_cls(model=model, ref_model=copy.deepcopy(model) if explicit_ref else None, args=args,
                          train_dataset=dataset(), processing_class=tokenizer())
    trainer.train()
    return [e for e in trainer.state.log_history if "loss" in e]


def export(tmp_path, what, name):
    out = tmp_path / f"{name}.py"
    assert main(["export", str(what), "--out", str(out)]) == 0
    return import_file(out, name)


def discovered_run(tmp_path):
    """A hand-made finished run: a temporal point away from DPO (half length-normalized, a logit share in
    the mirror map, a hinge share in the link, SFT fading out, beta growing with tau)."""
    _, space = write_run(tmp_path / "probe")
    names = space.names()
    vec = np.asarray(space.to_vector(space.fixed), np.float64)
    for name, value in {"base.lam": 0.5, "base.mirror_w[logit]": 0.5, "base.link_w[hinge]": 0.3,
                        "base.w_sft": 0.2, "slope.w_sft": -0.2, "slope.log_beta": 0.7}.items():
        vec[names.index(name)] = value
    run, _ = write_run(tmp_path / "run", vector=vec)
    return run


def test_exported_discovered_loss_trains_in_trl(tmp_path):
    module = export(tmp_path, discovered_run(tmp_path), "discovered_loss")
    trainer_cls = module.MirrorPreferenceOptimizationTrainer
    assert issubclass(trainer_cls, DPOTrainer) and trainer_cls._name == "Mirror Preference Optimization"
    history = train(trainer_cls, tmp_path)
    assert len(history) == STEPS
    losses = [h["loss"] for h in history]
    margins = [h["rewards/margins"] for h in history]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) and losses[-1] < losses[0], losses
    assert margins[0] == pytest.approx(0.0, abs=1e-6)  # the policy starts as the reference
    assert np.mean(margins[-5:]) > np.mean(margins[:5]) + 0.1, margins
    assert [h["tau"] for h in history] == pytest.approx([s / STEPS for s in range(STEPS)])
    for key in ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "logps/chosen", "logps/rejected"):
        assert all(np.isfinite(h[key]) for h in history), key
    assert history[-1]["rewards/accuracies"] > 0.5


def test_exported_dpo_point_equals_trl_sigmoid(tmp_path):
    module = export(tmp_path, "sigmoid", "dpo_loss")
    ours = train(module.MirrorPreferenceOptimizationTrainer, tmp_path)
    builtin = train(DPOTrainer, tmp_path, loss_type="sigmoid", beta=0.1)
    for key in ("loss", "rewards/margins", "rewards/chosen", "rewards/rejected", "rewards/accuracies"):
        np.testing.assert_allclose([h[key] for h in ours], [h[key] for h in builtin], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    assert ours[-1]["loss"] < ours[0]["loss"]


def test_precomputed_reference_logps_give_the_same_run(tmp_path):
    module = export(tmp_path, "sigmoid", "dpo_loss_pre")
    with_ref = train(module.MirrorPreferenceOptimizationTrainer, tmp_path, steps=4)
    precomputed = train(module.MirrorPreferenceOptimizationTrainer, tmp_path, steps=4, explicit_ref=False,
                        precompute_ref_log_probs=True)
    np.testing.assert_allclose([h["loss"] for h in precomputed], [h["loss"] for h in with_ref], rtol=1e-6)


def test_trainer_refuses_a_config_whose_loss_it_replaces(tmp_path):
    module = export(tmp_path, "sigmoid", "dpo_loss_refuse")
    args = DPOConfig(output_dir=str(tmp_path / "out"), loss_type="ipo", report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match=r"DPOConfig.loss_type = \['ipo'\]: the Mirror Preference Optimization loss"):
        module.MirrorPreferenceOptimizationTrainer(model=tiny_llama(), args=args, train_dataset=dataset(),
                                                   processing_class=tokenizer())
    with pytest.warns(UserWarning, match="DPOConfig.beta = 0.5 is not used"):
        args = DPOConfig(output_dir=str(tmp_path / "out"), beta=0.5, report_to="none", use_cpu=True, max_steps=1)
        model = tiny_llama()
        module.MirrorPreferenceOptimizationTrainer(model=model, ref_model=copy.deepcopy(model), args=args,
                                                   train_dataset=dataset(), processing_class=tokenizer())
    assert json.loads(json.dumps(module.PROVENANCE))["source"] == "loss"
