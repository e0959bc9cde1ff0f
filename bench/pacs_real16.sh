#!/usr/bin/env bash
# Issue 18 "done when" against a real Orthanc holding 16 real images from rsna-real-512:
# send, echo, find (DICOMweb + DIMSE), get (WADO-RS + C-GET, pixel identity), detect --format
# submission/sr, send the SRs, get them back and compare with highdicom, then a reviewed session
# exported as SR, sent and read back. Needs Orthanc + its DICOMweb plugin (Debian) and the data.
#   bench/pacs_real16.sh [WORKDIR]      (REAL_DATA=../shared/data/rsna-real-512 by default)
set -u
W=${1:-/tmp/pneumoview-pacs-real16}; mkdir -p "$W"
cd "$(dirname "$0")/.."
REAL=${REAL_DATA:-../shared/data/rsna-real-512}
PY=.venv/bin/python; PV="$PY main.py"
rm -rf $W/all-back $W/orthanc $W/get-web $W/get-dimse $W/sr $W/sr-back $W/sub.csv $W/imgs; mkdir -p $W/orthanc/db $W/imgs
HTTP=18042; DICOM=14242
# The Orthanc of the PACS tests (tests/orthanc_server.py), with our AE title known to it.
$PY -m tests.orthanc_server $W/orthanc ORTHANC $HTTP $DICOM pneumoview=PNEUMOVIEW:11113 > $W/orthanc/log.txt 2>&1 & ORTH=$!
for i in $(seq 30); do curl -s http://127.0.0.1:$HTTP/system >/dev/null && break; sleep 0.5; done
WEB=http://127.0.0.1:$HTTP/dicom-web; DIM=dimse://ORTHANC@127.0.0.1:$DICOM
# 16 real images: the first 16 positives of the labels file, so boxes are expected.
tr -d '\r' < $REAL/labels.csv | cut -d, -f1,6 | grep ',1$' | cut -d, -f1 | sort -u | head -16 > $W/ids.txt
while read p; do cp $REAL/images/$p.dcm $W/imgs/$p.dcm; done < $W/ids.txt
echo "== send 16 real images"; $PV pacs send --server $WEB $W/imgs
echo "== echo"; $PV pacs echo --server $WEB; $PV pacs echo --server $DIM
echo "== find (DICOMweb)"; $PV pacs find --server $WEB --json > $W/find.json; $PY -c "import json;d=json.load(open('$W/find.json'));print(len(d),'studies,',sum(int(s.get('images') or s.get('number_of_images') or 0) for s in d),'images')"
echo "== find (DIMSE)"; $PV pacs find --server $DIM | tail -3
echo "== get over DICOMweb"; $PV pacs get --server $WEB --modality CR --out $W/get-web --quiet; ls $W/get-web | wc -l
echo "== get over DIMSE (C-GET)"; $PV pacs get --server $DIM --modality CR --out $W/get-dimse --quiet; ls $W/get-dimse | wc -l
echo "== pixel identity"; $PY - <<PYEOF
import pydicom, glob, os
src={pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in glob.glob('$W/imgs/*.dcm')}
for d in ('$W/get-web','$W/get-dimse'):
    same=0
    for p in glob.glob(d+'/*.dcm'):
        ds=pydicom.dcmread(p); o=src[ds.SOPInstanceUID]
        same += (ds.PixelData==o.PixelData and (ds.pixel_array==o.pixel_array).all())
    print(d, same, 'of', len(src), 'pixel-identical (stored bytes and decoded pixels)')
PYEOF
echo "== detect --format submission and --format sr"; $PV detect $W/get-web --out $W/sub.csv 2>&1 | tail -1; $PV detect $W/get-web --format sr --out $W/sr 2>&1 | tail -1; ls $W/sr | wc -l
echo "== send the SRs"; $PV pacs send --server $WEB $W/sr
echo "== get every study back (images + SRs) into a fresh folder; keep the SRs"; $PV pacs get --server $WEB --study $($PY -c "import json;print(' '.join(s['study_uid'] for s in json.load(open('$W/find.json'))))") --out $W/all-back --quiet; mkdir -p $W/sr-back; $PY -c "
import glob,shutil,pydicom
for p in glob.glob('$W/all-back/*.dcm'):
    if pydicom.dcmread(p,stop_before_pixels=True).SOPClassUID=='1.2.840.10008.5.1.4.1.1.88.34': shutil.copy(p,'$W/sr-back/')
"; ls $W/all-back | wc -l; ls $W/sr-back | wc -l
echo "== compare SR boxes read back with highdicom to the submission"; $PY - <<PYEOF
import csv, glob, pydicom
from detector.sr.read import read_sr
sub={}
for r in csv.DictReader(open('$W/sub.csv')):
    v=r['PredictionString'].split(); sub[r['patientId']]=sorted(tuple(float(x) for x in v[i:i+5]) for i in range(0,len(v),5))
import os
uid2pid={pydicom.dcmread(p,stop_before_pixels=True).SOPInstanceUID: os.path.basename(p)[:-4] for p in glob.glob('$W/get-web/*.dcm')}
ok=0; worst=0.0; n=0
for p in glob.glob('$W/sr-back/*.dcm'):
    res=read_sr(p)
    got=sorted((float(f.score),)+tuple(float(x) for x in f.xywh) for f in res.findings)
    refs=sorted(res.referenced)
    pid=uid2pid.get(refs[0]) if len(refs)==1 else None
    assert pid is not None, (p, refs)
    exp=sub.get(pid,[])
    same=len(exp)==len(got) and all(abs(a-b)<=0.5 for e,g in zip(exp,got) for a,b in zip(e[1:],g[1:])) and all(abs(e[0]-g[0])<=6e-5 for e,g in zip(exp,got))
    if len(exp)==len(got):
        for e,g in zip(exp,got): worst=max([worst]+[abs(a-b) for a,b in zip(e[1:],g[1:])]); n+=1
    ok+=same
print(ok,'of',len(glob.glob('$W/sr-back/*.dcm')),'SRs read back equal to the submission (boxes within 0.5 px, scores within the CSV rounding); boxes compared:',n,'largest coordinate difference',round(worst,4))
PYEOF
echo "== a reviewed session (16 images, ground truth imported, each reviewed) -> export sr -> pacs send -> get back"
rm -rf $W/review.sqlite* $W/review-sr $W/all-back2
$PY - <<PYEOF
import sys; sys.path.insert(0,'.')
from pathlib import Path
import csv
from detector.files.identity import identify
from detector.review.importing import import_labels
from detector.review.store import open_session
ids=set(open('$W/ids.txt').read().split())
rows=[r for r in csv.reader(open('$REAL/labels.csv', newline=''))]
with open('$W/labels16.csv','w',newline='') as f:
    w=csv.writer(f); w.writerow(rows[0]); [w.writerow(r) for r in rows[1:] if r[0] in ids]
state, store = open_session('$W/review.sqlite', reviewer='Dr Reader')
state.add_images(identify(str(p)) for p in sorted(Path('$W/imgs').glob('*.dcm')))
import_labels(state, '$W/labels16.csv')
for key in list(state.images): state.mark_reviewed(key)
store.close()
PYEOF
$PV export $W/review.sqlite --format labels --out $W/review-labels.csv; $PV export $W/review.sqlite --format sr --out $W/review-sr
$PV pacs send --server $WEB $W/review-sr
$PV pacs get --server $WEB --study $($PY -c "import json;print(' '.join(s['study_uid'] for s in json.load(open('$W/find.json'))))") --out $W/all-back2 --quiet
$PY - <<PYEOF
import csv, glob, os, pydicom
from detector.sr.read import read_sr
sent={pydicom.dcmread(p,stop_before_pixels=True).SOPInstanceUID for p in glob.glob('$W/review-sr/*.dcm')}
uid2pid={pydicom.dcmread(p,stop_before_pixels=True).SOPInstanceUID: os.path.basename(p)[:-4] for p in glob.glob('$W/imgs/*.dcm')}
lab={}
for r in csv.DictReader(open('$W/review-labels.csv')):
    if r['Target']=='1': lab.setdefault(r['patientId'],[]).append(tuple(float(r[k]) for k in ('x','y','width','height')))
ok=0; back=0; worst=0.0; readers=set()
for p in glob.glob('$W/all-back2/*.dcm'):
    if pydicom.dcmread(p,stop_before_pixels=True).SOPInstanceUID not in sent: continue
    back+=1; r=read_sr(p); readers.add(r.reader)
    refs=sorted(r.referenced); pid=uid2pid[refs[0]]
    got=sorted(tuple(f.xywh) for f in r.findings); exp=sorted(lab.get(pid,[]))
    if len(got)==len(exp):
        d=max([0.0]+[abs(a-b) for g,e in zip(got,exp) for a,b in zip(g,e)]); worst=max(worst,d); ok+= d<=0.5
print(back,'of',len(sent),'reviewed SRs back from Orthanc;',ok,'with the labels export boxes within 0.5 px (largest difference',round(worst,4),'px); references = the source SOPInstanceUIDs; readers',readers)
PYEOF
kill $ORTH; wait $ORTH 2>/dev/null
echo done
