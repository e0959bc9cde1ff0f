"""Plain-words reasons for reading and decoding failures.

:func:`short_reason` cuts any exception to one line that never is a bare class name.

pydicom tries every decoder plugin and then raises one ``RuntimeError`` whose first line is
"Unable to decode as exceptions were raised by all available plugins:", followed by one
``<plugin>: <message>`` line per plugin. A reason cut at the first line says nothing; the plugin
lines speak in codec jargon. :func:`explain_decode_failure` turns the transfer syntax name and
those lines into one line a reader can act on, e.g.
``corrupt JPEG Baseline stream (SOI marker missing: the data does not start like a JPEG image)``.
"""

from __future__ import annotations

import re

#: (pattern in a plugin message, plain cause). First match wins, so specific patterns go first.
_CAUSES: tuple[tuple[str, str], ...] = (
    (r"SOI marker missing", "SOI marker missing: the data does not start like a JPEG image"),
    (r"scan start must be zero", "its scan header does not fit a sequential JPEG"),
    (r"unexpected end of|premature end|end of (the )?(data|file|stream)", "the stream ends early"),
    (r"huffman", "Huffman-coded data is damaged"),
    (r"failed to read the header", "the JPEG 2000 header cannot be read"),
    (r"No matching JPEG 2000 format", "no JPEG 2000 codestream or JP2 signature found"),
    (r"failed to decode image", "the JPEG 2000 codestream is damaged or cut short"),
    (r"Invalid segment offset", "the RLE header's segment offsets are invalid"),
    (r"number of RLE segments", "the RLE header has the wrong number of segments"),
    (
        r"segment was completely decoded|RLE segment data doesn't match",
        "an RLE segment is cut short",
    ),
    (r"exceeds limit of \d+ pixels|decompression bomb", "its header declares an absurd image size"),
    (r"broken data stream|truncated", "the stream is damaged or cut short"),
)

#: Plugin messages that carry no information about the data (tried only as a last resort).
_UNINFORMATIVE = ("cannot identify image file",)

_LIBJPEG_PREFIX = re.compile(r"^libjpeg error code '[-\d]+' returned from Decode\(\):\s*")
_OBJECT_REPR = re.compile(r"\s*<[^<>]* object at 0x[0-9a-fA-F]+>")


def short_reason(exc: BaseException) -> str:
    """First line of an exception's message; never a bare exception class name."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not text or text == type(exc).__name__:
        text = f"the reader stopped without saying why ({type(exc).__name__})"
    return text if len(text) <= 160 else text[:157] + "..."


def short_syntax_name(name: str) -> str:
    """``"JPEG Baseline (Process 1)"`` -> ``"JPEG Baseline"``; other names unchanged."""
    return re.sub(r"\s*\(Process[^)]*\)", "", name).strip() or name


def plugin_messages(text: str) -> list[tuple[str, str]]:
    """``(plugin, message)`` pairs from pydicom's "all available plugins" error text."""
    pairs = []
    for line in text.splitlines()[1:]:
        plugin, sep, message = line.strip().partition(": ")
        if sep and plugin and " " not in plugin:
            pairs.append((plugin, message.strip()))
    return pairs


def _clean(message: str) -> str:
    message = _LIBJPEG_PREFIX.sub("", message)
    message = _OBJECT_REPR.sub("", message).strip().rstrip(".")
    return message if len(message) <= 120 else message[:117] + "..."


def explain_decode_failure(text: str, syntax_name: str) -> str:
    """One plain line for a decoder failure.

    Parameters
    ----------
    text : str
        The exception text pydicom raised (all of it, not only the first line).
    syntax_name : str
        The transfer syntax name (``UID.name``), e.g. ``"JPEG Baseline (Process 1)"``.

    Returns
    -------
    str
        ``"corrupt <syntax> stream (<cause>)"``; the cause comes from the plugin messages.
    """
    syntax = short_syntax_name(syntax_name or "compressed")
    messages = plugin_messages(text)
    if not messages:
        first = _clean(text.strip().splitlines()[0]) if text.strip() else ""
        return f"corrupt {syntax} pixel data ({first})" if first else f"corrupt {syntax} pixel data"
    if all(re.search(r"does not support|not supported", m, re.IGNORECASE) for _p, m in messages):
        details = "; ".join(_clean(message) for _plugin, message in messages)
        return f"unsupported {syntax} variant ({details})"
    for pattern, cause in _CAUSES:
        for _plugin, message in messages:
            if re.search(pattern, message, flags=re.IGNORECASE):
                return f"corrupt {syntax} stream ({cause})"
    informative = [
        (p, m) for p, m in messages if m and not any(u in m for u in _UNINFORMATIVE)
    ] or messages
    details = "; ".join(f"{plugin}: {_clean(message)}" for plugin, message in informative)
    return f"corrupt {syntax} stream (no decoder could read it: {details})"
