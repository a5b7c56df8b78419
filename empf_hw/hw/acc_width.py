"""The accumulator of a cores architecture: ``core.accumulator_bits`` is a number of bits or ``auto`` (as wide as
the mapped model needs, resolved by ``empf_hw.hw.cores.mapper.fit_accumulator``); ``core.accumulation`` is
``event`` or ``output_stationary``."""

ACC_AUTO = "auto"
OUTPUT_STATIONARY = "output_stationary"  # core.accumulation: events summed in lane registers
UNMAPPED_ACC_BITS = 32  # the width an ``auto`` accumulator is priced and sized at until a model is mapped


def acc_width(core: dict) -> int:
    """The core's accumulator width, or UNMAPPED_ACC_BITS while it is still ``auto``."""
    return UNMAPPED_ACC_BITS if core["accumulator_bits"] == ACC_AUTO else core["accumulator_bits"]
