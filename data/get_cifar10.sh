#!/usr/bin/env bash
# Fetch CIFAR-10 (python version, 163 MB) into data/cifar-10-batches-py/.
# Needs internet; the course runs without it (it falls back to the embedded digits).
set -euo pipefail
cd "$(dirname "$0")"
URL="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5="c58f30108f718f92721af3b95e74349a"
if [ -f cifar-10-batches-py/data_batch_5 ] && [ -f cifar-10-batches-py/test_batch ]; then
  echo "CIFAR-10 is already in $(pwd)/cifar-10-batches-py"; exit 0
fi
if command -v curl >/dev/null; then curl -fL --retry 3 -o cifar-10-python.tar.gz "$URL"
else wget -O cifar-10-python.tar.gz "$URL"; fi
got=$( (md5sum cifar-10-python.tar.gz 2>/dev/null || md5 -r cifar-10-python.tar.gz) | cut -d' ' -f1)
if [ "$got" != "$MD5" ]; then
  echo "checksum mismatch ($got, expected $MD5): the download is damaged; try again" >&2
  rm -f cifar-10-python.tar.gz; exit 1
fi
tar -xzf cifar-10-python.tar.gz && rm cifar-10-python.tar.gz
echo "CIFAR-10 is ready in $(pwd)/cifar-10-batches-py"
