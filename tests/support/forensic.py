"""Evidence for the forensic checks: camera-like JPEGs with an EXIF thumbnail of themselves, the same photo with its
pixels changed and its EXIF kept, XMP edit histories written by exiftool into a copy, and C2PA content credentials
signed with a certificate chain made here (openssl: a test root CA and an ES256 signing certificate)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import c2pa
import piexif
from PIL import Image, ImageDraw

from jobs.samples import picture

IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def camera_photo(
    path: Path, *, seed: int = 0, size: tuple[int, int] = (640, 480), software: str = "",
    taken: str = "2024:01:02 03:04:05", offset: str = "", gps_utc: tuple[str, int, int, int] | None = None,
) -> Path:  # fmt: skip
    """A JPEG as a camera writes it: EXIF with make, model and time taken, and a 160-pixel thumbnail of the picture
    in IFD1."""
    image = picture(*size, seed)
    small = image.copy()
    small.thumbnail((160, 160))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=80)
    zeroth: dict[int, object] = {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"EOS 80D"}
    if software:
        zeroth[piexif.ImageIFD.Software] = software.encode()
    exif: dict[int, object] = {piexif.ExifIFD.DateTimeOriginal: taken.encode()}
    if offset:
        exif[piexif.ExifIFD.OffsetTimeOriginal] = offset.encode()
    gps: dict[int, object] = {}
    if gps_utc:
        day, h, m, s = gps_utc
        gps = {piexif.GPSIFD.GPSDateStamp: day.encode(), piexif.GPSIFD.GPSTimeStamp: ((h, 1), (m, 1), (s, 1))}
    block = piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps, "1st": {}, "thumbnail": buffer.getvalue()})
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", exif=block, quality=90)
    return path


def painted_over(source: Path, target: Path) -> Path:
    """`source` with most of its picture painted over and its EXIF block (thumbnail included) kept, as an editor
    that keeps the metadata saves it."""
    with Image.open(source) as original:
        block = original.info["exif"]
        edited = original.convert("RGB")
    draw = ImageDraw.Draw(edited)
    width, height = edited.size
    for stripe in range(0, width, width // 8):  # high-contrast bars across the whole picture
        draw.rectangle((stripe, 0, stripe + width // 16, height), fill=(0, 0, 0))
    draw.ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(255, 255, 255))
    edited.save(target, "JPEG", exif=block, quality=90)
    return target


def with_xmp(source: Path, target: Path, *args: str) -> Path:
    """A copy of `source` at `target` with exiftool's tag assignments `args` written into the copy only."""
    shutil.copyfile(source, target)
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args, str(target)], check=True)
    return target


@dataclass(frozen=True)
class SigningChain:
    chain: bytes  # PEM: the signing certificate, then the root
    key: bytes  # PEM PKCS#8 private key of the signing certificate


def signing_chain(folder: Path) -> SigningChain:
    """A test root CA and an ES256 signing certificate it issued, as C2PA requires (an end-entity certificate with
    digitalSignature and an extended key usage, issued by a CA)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=Test Root CA/O=Test Lab", "-days", "30",
            "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem")  # fmt: skip
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "signer.key")
    openssl("req", "-new", "-key", "signer.key", "-subj", "/CN=Test Signer/O=Test Lab", "-out", "signer.csr")
    (folder / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl("x509", "-req", "-in", "signer.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "30", "-sha256", "-extfile", "ext.cnf", "-out", "signer.pem")  # fmt: skip
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", "signer.key", "-out", "signer.pk8")
    return SigningChain(
        chain=(folder / "signer.pem").read_bytes() + (folder / "ca.pem").read_bytes(),
        key=(folder / "signer.pk8").read_bytes(),
    )


def signed(source: Path, target: Path, chain: SigningChain, *, source_type: str = "digitalCapture") -> Path:
    """`source` signed with C2PA content credentials by `chain`: a "created" action of the given IPTC digital source
    type (trainedAlgorithmicMedia: made by generative AI)."""
    manifest = {
        "claim_generator_info": [{"name": "forensic-tests", "version": "1"}],
        "title": source.name,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": IPTC_SOURCE_TYPES + source_type}]},
            }
        ],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.chain, chain.key, None))
    with c2pa.Builder(json.dumps(manifest)) as builder, open(source, "rb") as src, open(target, "wb") as dest:
        builder.sign(signer, "image/jpeg", src, dest)
    return target


def tampered(source: Path, target: Path) -> Path:
    """`source` with bytes of its image data changed (its C2PA hash no longer matches)."""
    data = bytearray(source.read_bytes())
    end = data.rfind(b"\xff\xd9")
    for at in range(end - 40, end - 20):
        data[at] ^= 0x55
    target.write_bytes(bytes(data))
    return target
