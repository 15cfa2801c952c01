"""The annotator workspace: leases, pairwise judging with htmx, dialogues, quality pages."""
