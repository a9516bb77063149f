/* The built-in disclosed-key list: SHA-256 of the upper-cased key text, never the key.
 *
 * Every key that appears in farmlab's docs/ and examples must be listed here: the unit test
 * test_disclosed scans those folders and fails, naming the file, when one is missing. To add
 * a key: printf %s KEY | tr a-f A-F | sha256sum */
#include "disclosed.h"

const struct disclosed_entry disclosed_builtin[] = {
    /* The 2006 blog post about an IIS 6 farm behind NLB that docs/why-keys-must-match.md
     * retells; it printed the validationKey with a stray space before "55B2". */
    {"982c088da84b47c24a100c14b1151935913c697826f9aa1b772efa8c12c5033b",
     "the 2006 IIS 6 web-farm blog post (validationKey)"},
    {"44a5350cc8e8d308863aff6fde33ccead99b38ae3913c7f457544bca9c66f66d",
     "the 2006 IIS 6 web-farm blog post (decryptionKey)"},

    /* Keys of the public test vectors in tests/data/aspnet-vectors.json. */
    {"3e9a1c8ac9b536dca0163efa4352db49c401c05821c7790ab1ca556629fe651e",
     "public test vectors of dazinator/AspNetCore.LegacyAuthCookieCompat"},
    {"73e979e2af82c48e45eb86fe382240d0c9c93845bed447ee1db1a4911c704149",
     "public test vectors of dazinator/AspNetCore.LegacyAuthCookieCompat"},
    {"b4903122e1d3aabf6a0a9b589f975d9af8735ead685a0ee5eb6def624f744d5f",
     "public test vectors of dazinator/AspNetCore.LegacyAuthCookieCompat"},
    {"d3ca68fa17da22f19d5110d15417097ba528486c1eef1fd8ace4d91e754a2015",
     "public test vectors of dazinator/AspNetCore.LegacyAuthCookieCompat"},
    {"cdb71707fa5654d89bf4436c058ad0790e2282962298e166a97232b246d6dd21",
     "public test vectors of dazinator/AspNetCore.LegacyAuthCookieCompat"},
    {"f3fb066339e55d3d00f28b43fa588ce2bea6490eabd980e4a6b4c150df771c36",
     "public test vectors of dazinator/AspNetCore.LegacyAuthCookieCompat"},
    {"4ccac1991581472853f14007ca9d8b8d3cffb2751d1bf6bb839d4d0228747b4e",
     "public test vectors of dazinator/AspNetCore.LegacyAuthCookieCompat"},
    {"88e9f1036230ef788488dd3511f6b8e57c64460633fb892dba4a3d731ac6c044",
     "public test vectors of dazinator/AspNetCore.LegacyAuthCookieCompat"},
    {"c81baa4f1e90fac8ed32b0c888dc991c5547811568fa4d426e879e4c1b191d23",
     "public test vectors of NotSoSecure/Blacklist3r"},
    {"070e95c19fd908c31a08f43641b8286f6f392975139f7717648908bc333a11b5",
     "public test vectors of NotSoSecure/Blacklist3r"},
    {"fb3c182d840a246268d04e8a8016ff2c9bdcd3b13c5cf0cd72074a14b01344bf",
     "public test vectors of NotSoSecure/Blacklist3r"},
    {"37365b6e36031561612e8b5b2db11a3d5d1365aa68d70b5b646cbe1f8ea2a743",
     "public test vectors of NotSoSecure/Blacklist3r"},
    {"4872e9ef4e9e3b9d7dc24c88cc6c7b783d8096232c93147593990fcd19f1a7ee",
     "public test vectors of LeanKit-Labs/aspxauth"},
    {"7c147130e4e3d3aa75551669835a84fa6dce930b78b7baea64783ca0f4bddce8",
     "public test vectors of LeanKit-Labs/aspxauth"},
    {"2905509a289b4bc03893d13674277ee9ff7cd6322faaf77a34509910714a5d76",
     "public test vectors of julian-maughan/FormsAuthDecryptor"},
    {"cc0ec0800dd36fa03259786a0b699c5d9316dbfa7367e3c180e12ba646e26ad2",
     "public test vectors of julian-maughan/FormsAuthDecryptor"},
    {"235b1a228236cda0b1b661ba8a7b1bf0ddc46cda85ea6033a937e95d07807fe9",
     "public test vectors of guohai163/fa4j"},
    {"6127b472e0754e13ecfcd4d8116abd048b0a0f937395701346ab16c9df2a7176",
     "public test vectors of guohai163/fa4j"},
    {"18386985c90cff1ae8c59828f54c3960e27ba592eebad71d88b60f36a81f835c",
     "public test vectors of kasem545/ASPXAUTH-forger"},
    {"f75c8d5e53b05522b9ad0edcfb8eb97f23d79f6a3945da2079ef32a81cbbe7ba",
     "public test vectors of kasem545/ASPXAUTH-forger"},
    {"bd233b921bc37a1b5c71885818827760864da2faac181d0e120924f589606027",
     "public test vectors of mevdschee/aspnetcookie"},
    {"a63c12becfd86c437eba3324c41129b93308220a677454a9cca7864faadca98b",
     "public test vectors of mevdschee/aspnetcookie"},
    {"17f20fa58c12c81798126b8864ec2f0df13e44be1bbfac68f6c6429dddc8098d",
     "public test vectors of blacklanternsecurity/badsecrets"},
    {"1f52a7457638177225d058807d3d6a8bc338ef2530269361ef8a6255a36c115e",
     "public test vectors of blacklanternsecurity/badsecrets"},
    {"ca330961c5ec9dfe7c9f15d546f0e7343c8d4a94ab974e6fa2bdf6036f484636",
     "public test vectors of blacklanternsecurity/badsecrets"},
    {"00005291e6a2ea085958d16c41abca36dc3d06590dae29a1c3f41da5a1da4b83",
     "public test vectors of blacklanternsecurity/badsecrets"},
    {"c77fe8c90eabe633f83d62ed1706d3de243a3349741983998d78de9b112aad0a",
     "public test vectors of blacklanternsecurity/badsecrets"},
    {"a9a0afa7837ceaa6fa705e954aaaf2552753aa9b6fe881a511509859dcb9426a",
     "public test vectors of blacklanternsecurity/badsecrets"},

    /* farmlab's own docs and examples (kept in step by test_disclosed). */
    {"0ea37c243f60974b0d54c6b2d76cece3f4c742492cce48eaf81f357931d6d69e",
     "farmlab's docs (docs/machinekey.md example validationKey)"},
    {"468f1eebf694632f0d6f20ff16243bc797ef16d15c92a6d4776e2d657e9b29c2",
     "farmlab's docs (docs/machinekey.md example decryptionKey)"},
    {"8a93d4e22fa78d9f88e6c5e0e4b53ecce057a594aaef43d316fcd96c13fb23f1",
     "farmlab's example farms (farms/keys/farm.config and other-decryption.config "
     "validationKey)"},
    {"ecc58cadba427a50fd225c28b1cb02af498f81c19d005bcc92769406a12dee4b",
     "farmlab's example farms (farms/keys/farm.config decryptionKey)"},
    {"890eb3195b239b26a62c8e4b92e3c48a8e4cefcfac2e7fa7b470b54ab4cb28d9",
     "farmlab's example farms (farms/keys/other-decryption.config decryptionKey)"},
};

const size_t disclosed_builtin_count = sizeof disclosed_builtin / sizeof disclosed_builtin[0];
