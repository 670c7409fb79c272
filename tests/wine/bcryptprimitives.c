/* Test-only stand-in for Windows' bcryptprimitives.dll, which Debian's wine 8 lacks.
 * Rust's standard library (1.78 and later) draws its random numbers from ProcessPrng in
 * that DLL; every Windows 10 and 11 has it, and so does wine from 9.0 on. The wine tests
 * (tests/tests/windows_wine.rs) build this into their wine prefix; it is never shipped.
 * ProcessPrng is answered with RtlGenRandom (advapi32's SystemFunction036). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG piece = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, piece)) {
            return FALSE;
        }
        data += piece;
        length -= piece;
    }
    return TRUE;
}
