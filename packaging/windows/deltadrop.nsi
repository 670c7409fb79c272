; The deltadrop installer for Windows, built on Linux by Debian's makensis
; (packaging/package.sh windows passes VERSION, DESCRIPTION, STAGE and OUTFILE).
;
; A per-user install, as VS Code's user installer does: no administrator rights needed (QA
; staff on locked-down machines), everything under HKCU and %LOCALAPPDATA%\Programs.
;   - deltadrop.exe (the app) and bin\deltadrop-cli.exe (the command line);
;   - a Start-menu entry; .zsync files open with the app;
;   - optionally (the "PATH" component, or /PATH on a silent install) bin\ on the user's
;     PATH, so that deltadrop-cli works in any new terminal;
;   - an entry in "Installed apps" whose uninstaller removes all of it.
; Silent: deltadrop-setup.exe /S [/PATH] [/D=C:\folder]; uninstall: uninstall.exe /S.

; A 64-bit installer for a 64-bit app (it also runs where 32-bit support is absent).
Target amd64-unicode
SetCompressor /SOLID lzma
RequestExecutionLevel user
ManifestDPIAware true

!include MUI2.nsh
!include LogicLib.nsh
!include FileFunc.nsh
!include StrFunc.nsh
!include WinMessages.nsh
${StrStr}
${UnStrRep}

!define APP "deltadrop"
!define PROG_ID "deltadrop.zsync"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP}"
!define ENV_KEY "Environment"

Name "${APP}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP}"
InstallDirRegKey HKCU "Software\${APP}" "InstallDir"
BrandingText "${APP} ${VERSION}"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APP}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APP} installer"
VIAddVersionKey "LegalCopyright" "${LICENSE}"

!define MUI_ICON "${STAGE}\deltadrop.ico"
!define MUI_UNICON "${STAGE}\deltadrop.ico"
!define MUI_COMPONENTSPAGE_NODESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\deltadrop.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP}"
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Section "${APP} (app and command line)" SecMain
  SectionIn RO
  SetOutPath "$INSTDIR"
  File "${STAGE}\deltadrop.exe"
  File "${STAGE}\README.txt"
  File "${STAGE}\LICENSE.txt"
  SetOutPath "$INSTDIR\bin"
  File "${STAGE}\deltadrop-cli.exe"
  SetOutPath "$INSTDIR"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  WriteRegStr HKCU "Software\${APP}" "InstallDir" "$INSTDIR"

  ; The app's own Start-menu entry (the user's Programs folder: no admin rights needed).
  CreateShortcut "$SMPROGRAMS\${APP}.lnk" "$INSTDIR\deltadrop.exe" "" "$INSTDIR\deltadrop.exe" 0 \
    SW_SHOWNORMAL "" "${DESCRIPTION}"

  ; .zsync files open with the app (deltadrop.exe FILE.zsync fills in the form).
  WriteRegStr HKCU "Software\Classes\.zsync" "" "${PROG_ID}"
  WriteRegStr HKCU "Software\Classes\.zsync" "Content Type" "application/x-zsync"
  WriteRegStr HKCU "Software\Classes\${PROG_ID}" "" "zsync control file"
  WriteRegStr HKCU "Software\Classes\${PROG_ID}\DefaultIcon" "" "$INSTDIR\deltadrop.exe,0"
  WriteRegStr HKCU "Software\Classes\${PROG_ID}\shell\open\command" "" '"$INSTDIR\deltadrop.exe" "%1"'
  ; SHCNE_ASSOCCHANGED: Explorer shows the new icon and default program at once.
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${APP}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "The ${APP} developers"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\deltadrop.exe,0"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" $0
SectionEnd

Section /o "Add deltadrop-cli to PATH" SecPath
  ; Only the user's own PATH (HKCU), which is short on most machines. NSIS strings end at
  ; ${NSIS_MAX_STRLEN} characters: a longer PATH would come back cut, so it is left alone
  ; rather than damaged.
  ReadRegStr $0 HKCU "${ENV_KEY}" "Path"
  StrLen $1 $0
  ${If} $1 > 900
    DetailPrint "Your PATH is too long to edit safely; add $INSTDIR\bin to it yourself."
    MessageBox MB_OK|MB_ICONINFORMATION "Your PATH is too long to edit safely.$\nAdd $INSTDIR\bin to it yourself to use deltadrop-cli in a terminal." /SD IDOK
    Return
  ${EndIf}
  ${StrStr} $2 ";$0;" ";$INSTDIR\bin;"
  ${If} $2 != ""
    Return
  ${EndIf}
  ${If} $0 == ""
    StrCpy $0 "$INSTDIR\bin"
  ${Else}
    StrCpy $0 "$0;$INSTDIR\bin"
  ${EndIf}
  WriteRegExpandStr HKCU "${ENV_KEY}" "Path" $0
  WriteRegDWORD HKCU "Software\${APP}" "AddedToPath" 1
  SendMessage ${HWND_BROADCAST} ${WM_SETTINGCHANGE} 0 "STR:Environment" /TIMEOUT=5000
SectionEnd

Function .onInit
  ; /PATH on the command line selects the PATH component (for silent installs).
  ${GetParameters} $0
  ClearErrors
  ${GetOptions} $0 "/PATH" $1
  ${IfNot} ${Errors}
    SectionSetFlags ${SecPath} ${SF_SELECTED}
  ${EndIf}
FunctionEnd

Section "Uninstall"
  Delete "$INSTDIR\deltadrop.exe"
  Delete "$INSTDIR\README.txt"
  Delete "$INSTDIR\LICENSE.txt"
  Delete "$INSTDIR\bin\deltadrop-cli.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR\bin"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${APP}.lnk"

  ; The association, only if it is still ours.
  ReadRegStr $0 HKCU "Software\Classes\.zsync" ""
  ${If} $0 == "${PROG_ID}"
    DeleteRegKey HKCU "Software\Classes\.zsync"
  ${EndIf}
  DeleteRegKey HKCU "Software\Classes\${PROG_ID}"
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'

  ReadRegDWORD $0 HKCU "Software\${APP}" "AddedToPath"
  ${If} $0 == 1
    ReadRegStr $1 HKCU "${ENV_KEY}" "Path"
    StrLen $2 $1
    ${If} $2 <= 900
      ; Remove our entry wherever it stands: wrap in ';' so each entry is ';entry;'.
      ${UnStrRep} $1 ";$1;" ";$INSTDIR\bin;" ";"
      ${UnStrRep} $1 $1 ";;" ";"
      StrCpy $3 $1 1
      ${If} $3 == ";"
        StrCpy $1 $1 "" 1
      ${EndIf}
      StrCpy $3 $1 1 -1
      ${If} $3 == ";"
        StrCpy $1 $1 -1
      ${EndIf}
      ${If} $1 == ""
        DeleteRegValue HKCU "${ENV_KEY}" "Path"
      ${Else}
        WriteRegExpandStr HKCU "${ENV_KEY}" "Path" $1
      ${EndIf}
      SendMessage ${HWND_BROADCAST} ${WM_SETTINGCHANGE} 0 "STR:Environment" /TIMEOUT=5000
    ${EndIf}
  ${EndIf}
  DeleteRegKey HKCU "Software\${APP}"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
SectionEnd
