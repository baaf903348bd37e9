"""The documents the rulebook's presets follow (../shared/seeds/), by their titles, for the pages."""

from ..rulebook import PRESETS

DOCUMENTS = {
    "000": "某街道开展“深化入户走访、密切联系群众”活动实施方案",
    "001": "党员干部全员联户活动实施方案",
    "002": "湖田街道办事处关于开展2022年度“我为群众办实事·走千村进万户”大走访大排查大提升活动的实施方案"
    "（湖工发〔2022〕34号）",
    "003": "平川镇关于开展镇村（居）两级书记大走访活动工作实施方案",
    "004": "2023年某矿区推进四步“走亲”工作法提升基层治理工作情况汇报",
}


def preset_of(campaign):
    """The preset ``campaign`` was created from (产品默认 for an unknown or empty code)."""
    return PRESETS.get(campaign.preset or "", PRESETS[""])
