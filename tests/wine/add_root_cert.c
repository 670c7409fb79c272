/* Test-only: trusts a CA certificate (DER file) machine-wide in the wine prefix's
 * Windows certificate store, as an administrator or a group policy does on Windows.
 * tests/tests/windows_wine.rs builds it with mingw and runs it under wine, so that
 * deltadrop-cli.exe verifies the test server through Windows' own certificate checks. */
#include <stdio.h>
#include <windows.h>
#include <wincrypt.h>

int main(int argc, char **argv) {
    static BYTE der[65536];
    FILE *file;
    size_t length;
    HCERTSTORE store;
    BOOL added;

    if (argc != 2 || !(file = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: add_root_cert CA.der\n");
        return 2;
    }
    length = fread(der, 1, sizeof der, file);
    fclose(file);
    store = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0,
                          CERT_SYSTEM_STORE_LOCAL_MACHINE, L"Root");
    if (!store) {
        fprintf(stderr, "cannot open the Root store: %lu\n", GetLastError());
        return 1;
    }
    added = CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING, der, (DWORD)length,
                                             CERT_STORE_ADD_REPLACE_EXISTING, NULL);
    if (!added) {
        fprintf(stderr, "cannot add the certificate: %lu\n", GetLastError());
    }
    CertCloseStore(store, 0);
    return added ? 0 : 1;
}
