"""Signals only a platform holding both the judgments and the reward models can give: how
often each annotator agrees with the current reward models, how the models score each
variant's responses batch by batch, and where the helpfulness and safety models disagree."""
