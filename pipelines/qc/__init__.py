"""Quality control of synthesized utterances (tokens, audio, speaker similarity, ASR round trip); see checks.py."""
