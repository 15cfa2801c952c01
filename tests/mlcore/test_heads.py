"""The output head by vocabulary chunks, for inference."""

import torch

from mlcore.heads import chunked_logits, plain_output_head
from mlcore.tiny_models import causal_lm, llama_config, word_tokenizer


def test_chunked_logits_equal_one_product():
    torch.manual_seed(0)
    hidden, weight = torch.randn(5, 8), torch.randn(2500, 8)
    torch.testing.assert_close(chunked_logits(hidden, weight, chunk=1024), hidden @ weight.t())


def test_only_plain_float32_heads_outside_autocast_are_taken():
    model = causal_lm(llama_config(word_tokenizer(["a", "b"])))
    assert plain_output_head(model) is model.get_output_embeddings()
    assert plain_output_head(torch.nn.Sequential(model)) is None  # a wrapper
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert plain_output_head(model) is None
    model.config.model_type = "cohere"  # scales its logits after the head
    assert plain_output_head(model) is None
