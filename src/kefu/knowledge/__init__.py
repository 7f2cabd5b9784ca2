"""Knowledge: the FAQ pack format (`pack.py`), its storage (`models.py`) and the service that
imports, exports and loads it (`service.py`). Packs bundled with kefu live in `kefu/skills/`.
"""
