from households.masking import mask_id_number, mask_phone


def test_it_masks_id_numbers_keeping_region_and_last_four():
    assert mask_id_number("37030319540523843X") == "370303********843X"
    assert mask_id_number("") == ""


def test_it_masks_mobiles_and_landlines():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0532-82345678") == "0532*****5678"
    assert "2345678" not in mask_phone("0532-82345678")
    assert mask_phone("") == ""
