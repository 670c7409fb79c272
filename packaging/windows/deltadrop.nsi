; The deltadrop installer for Windows, built on Linux by Debian's makensis
; (packaging/package.sh windows passes VERSION, DESCRIPTION, STAGE and OUTFILE).
;
; A per-user install, as VS Code's user installer does: no administrator rights needed (QA
; staff on locked-down machines), everything under HKCU and %LOCALAPPDATA%\Programs.
;   - deltadrop.exe (the app) and bin\deltadrop-cli.exe (the command line);
;   - a Start-menu entry; .zsync files open with the app;
;   - optionally (the "PATH" component, or /PATH on a silent install) bin\ on the user's
;     PATH, so that deltadrop-cli works in any new terminal;
;   - an entry in "Installed apps" whose uninstaller removes all of it, and the app's own
;     "Start at login" entry (the Run value the app writes; the installer adds none).
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
!include Win\COM.nsh
!include Win\Propkey.nsh
${StrStr}
${UnStrRep}

!define APP "deltadrop"
!define PROG_ID "deltadrop.zsync"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP}"
!define ENV_KEY "Environment"
; The app's AppUserModelID (deltadrop::desktop::APP_IDENTIFIER, the macOS bundle id too).
!define APP_USER_MODEL_ID "org.deltadrop.deltadrop"
; Where the app's "Start at login" setting writes (deltadrop::desktop::autostart).
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define STARTUP_APPROVED_KEY "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"

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
  Push "$SMPROGRAMS\${APP}.lnk"
  Call SetShortcutAppUserModelId

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

;;; Gives the shortcut whose path is on the stack the AppUserModelID ${APP_USER_MODEL_ID}:
;;; Windows shows an unpackaged app's notifications (toasts) only under an ID that a
;;; Start-menu shortcut carries. Through the shell's COM objects (IShellLink's property
;;; store), with the System plugin and NSIS's own Win\COM.nsh: Debian's nsis has no
;;; WinShell plugin. A failure only costs the notifications, so it is reported, not fatal.
Function SetShortcutAppUserModelId
  Exch $R0
  System::Store S
  StrCpy $0 -1
  !insertmacro ComHlpr_CreateInProcInstance ${CLSID_ShellLink} ${IID_IShellLink} r1 ".r0"
  ${If} $0 = 0
    ${IUnknown::QueryInterface} $1 '("${IID_IPersistFile}",.r2)i.r0'
    ${If} $0 = 0
      ${IPersistFile::Load} $2 '("$R0",${STGM_READWRITE})i.r0'
      ${If} $0 = 0
        ${IUnknown::QueryInterface} $1 '("${IID_IPropertyStore}",.r3)i.r0'
        ${If} $0 = 0
          ; The key, the ID as a wide string (with its NUL), and a VT_LPWSTR pointing at it.
          System::Call '*${SYSSTRUCT_PROPERTYKEY}(${PKEY_AppUserModel_ID})p.r4'
          StrLen $7 "${APP_USER_MODEL_ID}"
          IntOp $7 $7 + 1
          System::Call '*(&w$7 "${APP_USER_MODEL_ID}")p.r5'
          System::Call '*${SYSSTRUCT_PROPVARIANT}(${VT_LPWSTR},,p r5)p.r6'
          ${IPropertyStore::SetValue} $3 '($4,$6)i.r0'
          ${If} $0 = 0
            ${IPropertyStore::Commit} $3 'i.r0'
          ${EndIf}
          ${If} $0 = 0
            ${IPersistFile::Save} $2 '("$R0",1)i.r0'
          ${EndIf}
          System::Free $4
          System::Free $5
          System::Free $6
          ${IUnknown::Release} $3 ""
        ${EndIf}
      ${EndIf}
      ${IUnknown::Release} $2 ""
    ${EndIf}
    ${IUnknown::Release} $1 ""
  ${EndIf}
  ${If} $0 <> 0
    DetailPrint "Could not give the Start-menu entry its AppUserModelID (error $0): deltadrop's notifications may not show."
  ${EndIf}
  System::Store L
  Pop $R0
FunctionEnd

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

  ; Starting at login (written by the app's setting, never by the installer), and Task
  ; Manager's switch for it: the program it starts is gone.
  DeleteRegValue HKCU "${RUN_KEY}" "${APP}"
  DeleteRegValue HKCU "${STARTUP_APPROVED_KEY}" "${APP}"

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
