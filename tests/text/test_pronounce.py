"""User pronunciations (a book's lexicon) override the frontend inside a block only."""

import pytest


def test_user_pronunciations_override_the_frontend_inside_the_block_only() -> None:
    from sovits_core.text import TextError, text_to_phones
    from sovits_core.text.pronounce import pronunciations

    before = text_to_phones("We love sovits.", "en").parts[0].phones
    with pronunciations({"en": {"SoVITS": ["S", "OW1", "V", "IH0", "T", "S"]}, "zh": {"重庆": ["zhong4", "qing4"]}}):
        assert text_to_phones("We love sovits.", "en").parts[0].phones == ("W", "IY1", "L", "AH1", "V", "S", "OW1",
                                                                            "V", "IH0", "T", "S", ".")  # fmt: skip
        zh = text_to_phones("我去重庆。", "zh").parts[0]
        assert zh.phones[4:8] == ("zh", "ong4", "q", "ing4") and sum(zh.word2ph) == len(zh.phones)
    assert text_to_phones("We love sovits.", "en").parts[0].phones == before
    assert text_to_phones("我去重庆。", "zh").parts[0].phones[4:6] == ("ch", "ong2")
    for bad in ({"en": {"x": ["ah1"]}}, {"zh": {"重庆": ["chong2"]}}, {"zh": {"重庆": ["chong9", "qing4"]}}):
        with pytest.raises(TextError), pronunciations(bad):
            pass
