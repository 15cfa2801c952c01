"""Margin's reward models (Touvron et al., 2023, §3.2.2), without Django.

- ``data``: Margin's exports and Anthropic HH files → preference pairs → chat-templated tokens
- ``grades``: the paper's grades, margins (Table 27), ``margin_for`` and the unsafe threshold
- ``loss``: the margin ranking loss
- ``mix``: held-out test splits and the helpfulness / safety data mixes
- ``packing``: shared-context packed rows (one context copy per pair, no padding)
- ``model``: causal-LM body + scalar head, saved as AutoModelForSequenceClassification
- ``train``, ``evaluate``, ``score``: the three commands of ``python -m rewardtrain``
"""
