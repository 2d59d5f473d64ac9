"""Front-end (PTZ) commands of GB/T 28181 appendix A: the 8-byte ``PTZCmd`` of a DeviceControl.

Bytes: 1 ``A5``; 2 the version (high nibble, 0) and a check nibble, (A + 5 + version) mod 16;
3 the address' low 8 bits; 4 the instruction; 5 and 6 data; 7 a third data nibble (high) and the
address' high 4 bits (low); 8 the sum of bytes 1–7 mod 256. Written as 16 upper-case hex digits.

Presets (A.3.5): instruction 81 set, 82 call, 83 delete; byte 5 is 00 and byte 6 the preset
number, 1–255. Pure functions: the server sends what they build.
"""

from __future__ import annotations

from dataclasses import dataclass

PRESET_ACTIONS = {"set": 0x81, "call": 0x82, "delete": 0x83}
MAX_PRESET = 255


class PtzError(ValueError):
    """A PTZ command that cannot be built or read; the message names what is wrong."""


@dataclass(frozen=True)
class PtzCommand:
    instruction: int
    data1: int
    data2: int
    data3: int = 0
    address: int = 1

    @property
    def preset(self) -> tuple[str, int] | None:
        """("set" | "call" | "delete", number) for a preset command, else None."""
        for action, code in PRESET_ACTIONS.items():
            if self.instruction == code:
                return action, self.data2
        return None


def encode(cmd: PtzCommand) -> str:
    for name, value, top in (("instruction", cmd.instruction, 0xFF), ("data1", cmd.data1, 0xFF),
                             ("data2", cmd.data2, 0xFF), ("data3", cmd.data3, 0xF), ("address", cmd.address, 0xFFF)):
        if not 0 <= value <= top:
            raise PtzError(f"PTZ {name} {value} is outside 0–{top}")
    version = 0
    b = [0xA5, (version << 4) | ((0xA + 0x5 + version) & 0xF), cmd.address & 0xFF, cmd.instruction,
         cmd.data1, cmd.data2, (cmd.data3 << 4) | (cmd.address >> 8)]
    b.append(sum(b) & 0xFF)
    return bytes(b).hex().upper()


def decode(text: str) -> PtzCommand:
    """Read a ``PTZCmd``; refuses a wrong length, a wrong first byte or a checksum that does not add up."""
    try:
        b = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise PtzError(f"PTZCmd {text!r} is not hexadecimal") from exc
    if len(b) != 8:
        raise PtzError(f"PTZCmd {text!r} has {len(b)} bytes, not 8")
    if b[0] != 0xA5:
        raise PtzError(f"PTZCmd {text!r} does not start with A5")
    if (b[1] & 0xF) != ((0xA + 0x5 + (b[1] >> 4)) & 0xF):
        raise PtzError(f"PTZCmd {text!r}: the check nibble of byte 2 is wrong")
    if sum(b[:7]) & 0xFF != b[7]:
        raise PtzError(f"PTZCmd {text!r}: checksum {b[7]:02X}, the bytes add up to {sum(b[:7]) & 0xFF:02X}")
    return PtzCommand(instruction=b[3], data1=b[4], data2=b[5], data3=b[6] >> 4, address=b[2] | ((b[6] & 0xF) << 8))


def preset(action: str, number: int) -> PtzCommand:
    """The command that sets, calls (moves the camera to) or deletes preset ``number``."""
    if action not in PRESET_ACTIONS:
        raise PtzError(f"preset action {action!r} is not one of {', '.join(PRESET_ACTIONS)}")
    if not 1 <= number <= MAX_PRESET:
        raise PtzError(f"preset number {number} is outside 1–{MAX_PRESET}")
    return PtzCommand(PRESET_ACTIONS[action], 0, number)
