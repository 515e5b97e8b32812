"""Datasheets as data: the shipped ones load, every number has a source, a bad file lists every
problem as file:line:col, a lab's directory is searched first, and each simulator preset reads its
ratings from the datasheet it names (never its own copy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cells import CLASS_MEMBER, CellLibrary, CellNotFound, DatasheetError, load_datasheet, parse_datasheet
from cells.library import SHIPPED_DIR

SHIPPED = sorted(SHIPPED_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_number_names_its_source(path: Path) -> None:
    sheet = load_datasheet(path, shipped=True)
    assert sheet.name == path.stem
    assert sheet.numbers
    for key, number in sheet.numbers.items():
        if sheet.class_member:
            assert number.source == CLASS_MEMBER, key
        else:  # a product: the document, its revision and the page (or a cited publication)
            assert sheet.document in number.source and "p. " in number.source or "et al." in number.source, key


def test_the_real_cells_behind_the_presets_are_products_and_the_others_class_members() -> None:
    library = CellLibrary()
    m50 = library.get("lg_inr21700_m50")
    assert not m50.class_member and m50.model.startswith("INR21700 M50")
    assert m50.get("rating.capacity_ah") == 5.0 and m50.get("rating.charge_current_max_a") == 3.395
    a123 = library.get("ANR26650M1-B")  # by alias
    assert a123.name == "a123_anr26650m1b" and a123.get("rating.discharge_pulse_current_max_a") == 120
    for name in ("lfp_26650", "nmc_pouch_60ah", "solid_state_pouch", "xfc_nmc_pouch"):
        assert library.get(name).class_member


def test_a_bad_datasheet_lists_every_problem_with_file_line_col() -> None:
    text = ("name: bad\nmaker: x\nmodel: y\nchemistry: z\nform_factor: pouch\n"
            "document: {title: T, revision: A}\n"
            "rating:\n  capacity_ah: 5\n  voltage_max_v: {value: 3, page: 2}\n  voltage_min_v: {value: 4, page: 2}\n"
            "  chrge_current_max_a: {value: 1, page: 2}\n"
            "temperature: {charge_min_c: {value: hot, page: 2}}\n")
    with pytest.raises(DatasheetError) as caught:
        parse_datasheet(text, file="bad.yaml")
    problems = caught.value.problems
    assert any(p.startswith("bad.yaml:8:16: rating.capacity_ah: a product's number needs its source") for p in problems)
    assert any(p.startswith("bad.yaml:10:") and "must be below" in p for p in problems)
    assert any(p.startswith("bad.yaml:11:3: unknown key 'chrge_current_max_a'") and "charge_current_max_a" in p
               for p in problems)
    assert any(p.startswith("bad.yaml:12:") and "must be a number, got 'hot'" in p for p in problems)
    assert any("rating needs 'charge_current_max_a'" in p for p in problems)
    assert len(problems) >= 5


def test_a_lab_directory_comes_first_and_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "ours.yaml").write_text(
        "name: lab_cell\nmaker: Lab\nmodel: L1\nchemistry: NMC\nform_factor: pouch\n"
        "document: class member, not a product\n"
        "rating: {capacity_ah: 2, voltage_max_v: 4.2, voltage_min_v: 3, charge_current_max_a: 1,"
        " discharge_current_max_a: 2}\n", encoding="utf-8")
    library = CellLibrary([tmp_path])
    assert library.get("lab_cell").get("rating.capacity_ah") == 2
    assert {s.name for s in library.all()} >= {"lab_cell", "lg_inr21700_m50"}
    with pytest.raises(CellNotFound, match="did you mean 'lab_cell'"):
        library.get("lab_cel")


def test_presets_take_their_ratings_from_the_datasheet_they_name() -> None:
    from sim_instruments.cell.presets import PRESETS

    library = CellLibrary()
    for preset in PRESETS.values():
        sheet = library.get(preset.datasheet)
        assert preset.nominal_capacity_ah == sheet.get("rating.capacity_ah")
        assert (preset.voltage_min_v, preset.voltage_max_v) == (sheet.get("rating.voltage_min_v"),
                                                                 sheet.get("rating.voltage_max_v"))
        assert preset.current_max_charge_a == sheet.get("rating.charge_current_max_a")
        assert preset.current_max_discharge_a == sheet.get("rating.discharge_current_max_a")
        assert preset.mass_kg == sheet.get("mass_kg")
        assert preset.chemistry == sheet.chemistry


def test_presets_do_not_repeat_a_datasheet_number_in_their_source() -> None:
    """The preset module states no rating field: they come from rating_of(datasheet)."""
    source = (Path(__file__).parents[2] / "sim_instruments" / "cell" / "presets.py").read_text(encoding="utf-8")
    body = source.split("NMC_21700 = CellPreset(", 1)[1]
    for field in ("nominal_capacity_ah=", "voltage_max_v=", "voltage_min_v=", "current_max_charge_a=",
                  "current_max_discharge_a=", "mass_kg=", "temperature_min_charge_c=", "temperature_max_charge_c=",
                  "temperature_min_discharge_c=", "temperature_max_discharge_c=", "chemistry=", "form_factor="):
        assert field not in body, field
